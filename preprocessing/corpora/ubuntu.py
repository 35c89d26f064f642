"""Ubuntu Dialogue Corpus: raw v1 `.tsv` dialog files and the `dialogueText.csv` repackaging.

A `.tsv` line is `time<TAB>sender<TAB>addressee<TAB>text`; the CSV has the header
`folder,dialogueID,date,from,to,text`, one message per row. As in VHCR's preprocessing,
consecutive messages from the same sender are merged into one turn. When the input holds
the v2 split lists (`meta/valfiles.csv`, `meta/testfiles.csv`) they give the official
split; other dialogues are training data.
"""
import csv
import io
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from preprocessing.corpora.common import (
    InputError,
    blank_line,
    decode_utf8,
    is_file,
    is_folder,
    join,
    list_files,
    read_lines,
    reject,
    rejected,
    require_path,
)
from preprocessing.records import TEST, TRAIN, VALIDATION, Dialogue, Reason, Rejection

CSV_HEADER = ["folder", "dialogueID", "date", "from", "to", "text"]
META_FILES = {VALIDATION: "valfiles.csv", TEST: "testfiles.csv"}


def merge_turns(messages):
    """[(sender, text), ...] -> turns, merging consecutive messages of one sender."""
    turns, senders = [], []
    for sender, text in messages:
        if senders and senders[-1] == sender:
            turns[-1] = f"{turns[-1]} {text}".strip()
        else:
            senders.append(sender)
            turns.append(text.strip())
    return tuple(turns)


def load_split_lists(root):
    """{(file name, folder): split} from meta/*.csv, or {} when the lists are absent."""
    lists = {}
    meta = join(root, "meta") if is_folder(root) else None
    for split, name in META_FILES.items():
        path = join(meta, name) if meta else None
        if path and is_file(path):
            with FileSystems.open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8") as f:
                for row in csv.reader(f):
                    if len(row) == 2:
                        lists[(row[0].strip(), row[1].strip())] = split
    return lists


class _SplitLookup:
    def __init__(self, lists):
        self._lists = lists

    def __call__(self, file_name, folder):
        if not self._lists:
            return None  # no official split here: hashed later
        return self._lists.get((file_name, folder), TRAIN)


class _ParseTsv(beam.DoFn):
    def __init__(self, split_of):
        self._split_of = split_of

    def process(self, path):
        folder = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path)
        messages = []
        for number, raw in read_lines(path):
            source = f"{path}:{number}"
            text = decode_utf8(raw, source)
            if isinstance(text, Rejection):
                yield rejected(text._replace(record=f"{path} (whole dialog)"))
                return
            if not text.strip():
                continue
            fields = text.split("\t", 3)
            if len(fields) != 4:
                yield reject(source, Reason.MALFORMED_RECORD,
                             f"expected 4 tab-separated fields, got {len(fields)}; "
                             f"the whole dialog file is rejected", text)
                return
            messages.append((fields[1], fields[3]))
        yield Dialogue(f"{folder}/{name[:-4]}", merge_turns(messages), path,
                       self._split_of(name, folder))


def _parse_csv_rows(path):
    """Yields ((folder, dialogueID), (line, sender, text, path)) per row, or rejections.

    One csv.reader reads the whole file, so quoted fields may span lines; each row is
    named by its first physical line. Lines that are not UTF-8 are rejected on their own.
    """
    row_lines, bad_lines = [], []

    def decoded_lines():
        for number, raw in read_lines(path):
            text = decode_utf8(raw, f"{path}:{number}")
            if isinstance(text, Rejection):
                bad_lines.append(text)
                continue
            row_lines.append(number)
            yield text + "\n"

    for row in csv.reader(decoded_lines()):
        while bad_lines:
            yield rejected(bad_lines.pop(0))
        first, source = row_lines[0], f"{path}:{row_lines[0]}"
        del row_lines[:]
        if not row or not any(field.strip() for field in row):
            yield blank_line(source)
        elif first == 1 and row == CSV_HEADER:
            continue
        elif len(row) != len(CSV_HEADER):
            yield reject(source, Reason.MALFORMED_RECORD,
                         f"expected {len(CSV_HEADER)} CSV fields {CSV_HEADER}, got {len(row)}",
                         ",".join(row))
        else:
            folder, dialogue_file, _, sender, _, message = row
            yield (folder, dialogue_file), (first, sender, message, path)
    for bad in bad_lines:
        yield rejected(bad)


def _assemble_csv_dialogue(keyed_rows, split_of):
    (folder, dialogue_file), rows = keyed_rows
    rows = sorted(rows)
    first_line, path = rows[0][0], rows[0][3]
    stem = dialogue_file[:-4] if dialogue_file.endswith(".tsv") else dialogue_file
    return Dialogue(f"{folder}/{stem}", merge_turns((s, m) for _, s, m, _ in rows),
                    f"{path}:{first_line}", split_of(dialogue_file, folder))


class ReadUbuntu(beam.PTransform):
    def __init__(self, input_path):
        super().__init__()
        require_path(input_path, "ubuntu")
        if is_file(input_path):
            files = [input_path]
        else:
            files = [f for f in list_files(input_path) if f.endswith(".tsv") or (
                f.endswith(".csv") and "dialogue" in f.rsplit("/", 1)[-1].lower())]
        self._tsv = [f for f in files if f.endswith(".tsv")]
        self._csv = [f for f in files if f.endswith(".csv")]
        if not (self._tsv or self._csv):
            raise InputError(f"--input {input_path!r} holds no Ubuntu dialog .tsv files "
                             f"nor a dialogueText.csv")
        self._split_of = _SplitLookup(load_split_lists(input_path))
        self.official_split = bool(self._split_of._lists)  # the v2 meta split lists

    def expand(self, pbegin):
        split_of = self._split_of
        tsv = (pbegin
               | "UbuntuTsvFiles" >> beam.Create(self._tsv)
               | "UbuntuParseTsv" >> beam.ParDo(_ParseTsv(split_of))
               .with_outputs("rejected", main="dialogues"))
        rows = (pbegin
                | "UbuntuCsvFiles" >> beam.Create(self._csv)
                | "UbuntuParseCsv" >> beam.FlatMap(_parse_csv_rows)
                .with_outputs("rejected", main="rows"))
        from_csv = (rows.rows
                    | "UbuntuGroupRows" >> beam.GroupByKey()
                    | "UbuntuAssemble" >> beam.Map(_assemble_csv_dialogue, split_of))
        dialogues = (tsv.dialogues, from_csv) | "UbuntuDialogues" >> beam.Flatten()
        rejections = (tsv.rejected, rows.rejected) | "UbuntuRejections" >> beam.Flatten()
        return dialogues, rejections
