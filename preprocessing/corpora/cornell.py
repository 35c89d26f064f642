"""Cornell Movie-Dialogs: movie_lines.txt joined to movie_conversations.txt.

Fields are separated by ' +++$+++ '. The original files are Latin-1/cp1252 (our partial
copy of movie_lines.txt is UTF-8 with CRLF), so lines are decoded tolerantly.
Conversations whose lines are missing from movie_lines.txt are rejected with that reason.
"""
import ast
import os

import apache_beam as beam

from preprocessing.corpora.common import (
    InputError,
    blank_line,
    decode_legacy,
    is_file,
    join,
    read_lines,
    reject,
    require_path,
)
from preprocessing.records import Dialogue, Reason

SEPARATOR = " +++$+++ "
LINES_FILE = "movie_lines.txt"
CONVERSATIONS_FILE = "movie_conversations.txt"


def _parse_movie_lines(path):
    """Yields (line_id, text), or rejections for lines without the five fields."""
    for number, raw in read_lines(path):
        text = decode_legacy(raw)
        fields = text.split(SEPARATOR, 4)
        if not text.strip():
            yield blank_line(f"{path}:{number}")
            continue
        if len(fields) != 5:
            yield reject(f"{path}:{number}", Reason.MALFORMED_RECORD,
                         f"expected 5 fields separated by {SEPARATOR.strip()!r}, "
                         f"got {len(fields)}", text)
            continue
        yield fields[0].strip(), fields[4].strip()


class _JoinConversations(beam.DoFn):
    def process(self, path, lines):
        for number, raw in read_lines(path):
            source = f"{path}:{number}"
            text = decode_legacy(raw)
            if not text.strip():
                yield blank_line(source)
                continue
            fields = text.split(SEPARATOR)
            line_ids = None
            if len(fields) == 4:
                try:
                    line_ids = ast.literal_eval(fields[3].strip())
                except (ValueError, SyntaxError):
                    pass
            if not isinstance(line_ids, list) or not all(isinstance(i, str) for i in line_ids):
                yield reject(source, Reason.MALFORMED_RECORD,
                             "expected 4 fields, the last a list of line ids like ['L1', 'L2']",
                             text)
                continue
            missing = [i for i in line_ids if i not in lines]
            if missing:
                shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
                yield reject(source, Reason.MISSING_LINES,
                             f"{len(missing)} of {len(line_ids)} lines not in {LINES_FILE}: "
                             f"{shown}", text)
                continue
            movie = fields[2].strip()
            dialogue_id = f"{movie}-{line_ids[0]}" if line_ids else f"{movie}-line{number}"
            yield Dialogue(dialogue_id, tuple(lines[i] for i in line_ids), source)


class ReadCornell(beam.PTransform):
    official_split = False  # the corpus has none: dialogues are split by their id's hash

    def __init__(self, input_path):
        super().__init__()
        require_path(input_path, "cornell")
        self._lines = join(input_path, LINES_FILE)
        self._conversations = join(input_path, CONVERSATIONS_FILE)
        for path in (self._lines, self._conversations):
            if not is_file(path):
                raise InputError(f"--input {input_path!r} has no {os.path.basename(path)} "
                                 f"(expected the unzipped Cornell Movie-Dialogs corpus)")

    def expand(self, pbegin):
        parsed = (pbegin
                  | "CornellLinesFile" >> beam.Create([self._lines])
                  | "CornellParseLines" >> beam.FlatMap(_parse_movie_lines)
                  .with_outputs("rejected", main="lines"))
        results = (pbegin
                   | "CornellConversationsFile" >> beam.Create([self._conversations])
                   | "CornellJoin" >> beam.ParDo(
                       _JoinConversations(), lines=beam.pvalue.AsDict(parsed.lines))
                   .with_outputs("rejected", main="dialogues"))
        rejections = ((parsed.rejected, results.rejected)
                      | "CornellRejections" >> beam.Flatten())
        return results.dialogues, rejections
