"""DailyDialog: official split files, one dialogue per line, turns ended by `__eou__`."""
import apache_beam as beam

from preprocessing.corpora.common import (
    InputError,
    decode_utf8,
    is_file,
    join,
    read_lines,
    rejected,
    require_path,
    run_reader,
)
from preprocessing.records import SPLITS, Dialogue, Rejection

EOU = "__eou__"


def find_split_files(root):
    """{split: path} for `<split>/dialogues_<split>.txt` (official layout) or flat files."""
    require_path(root, "dailydialog")
    found = {}
    for split in SPLITS:
        for candidate in (join(root, split, f"dialogues_{split}.txt"),
                          join(root, f"dialogues_{split}.txt")):
            if is_file(candidate):
                found[split] = candidate
                break
    if len(found) != len(SPLITS):
        raise InputError(
            f"--input {root!r} lacks DailyDialog split files "
            f"({', '.join(s for s in SPLITS if s not in found)}): expected "
            f"train/dialogues_train.txt, validation/dialogues_validation.txt and "
            f"test/dialogues_test.txt (the unzipped official train/validation/test archives)")
    return found


def parse_line(text):
    """'a __eou__ b __eou__' -> ('a', 'b'): the trailing __eou__ ends the last turn."""
    turns = text.split(EOU)
    if turns and not turns[-1].strip():
        turns.pop()
    return tuple(t.strip() for t in turns)


class _ParseFile(beam.DoFn):
    def process(self, split_and_path):
        split, path = split_and_path
        for number, raw in read_lines(path):
            source = f"{path}:{number}"
            text = decode_utf8(raw, source)
            if isinstance(text, Rejection):
                yield rejected(text)
                continue
            yield Dialogue(f"{split}-{number:05d}", parse_line(text), source, split)


class ReadDailyDialog(beam.PTransform):
    official_split = True  # its train / validation / test files

    def __init__(self, input_path):
        super().__init__()
        self._files = sorted(find_split_files(input_path).items())

    def expand(self, pbegin):
        return run_reader(pbegin, "DailyDialog", self._files, _ParseFile())
