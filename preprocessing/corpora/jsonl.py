"""JSON-lines corpora: the user's own format and Zhao et al.'s Switchboard release.

`jsonl`: one dialogue per line, `{"id": ..., "turns": ["...", ...]}`; a turn may also be
`{"speaker": ..., "text": ...}`. `switchboard`: NeuralDialog-CVAE's format, one dialogue
per line with keys A, B, topic, prompt, utts; each utterance is
`[speaker, text, [act, [neg, neu, pos, compound]]]`.

A folder of files named train*/valid*|validation*|dev*/test* gives the official split;
a single file (or unnamed files) is split by hash.
"""
import json
import os

import apache_beam as beam

from preprocessing.corpora.common import (
    InputError,
    blank_line,
    decode_utf8,
    find_files,
    is_folder,
    read_lines,
    reject,
    rejected,
    require_path,
    run_reader,
    split_from_filename,
)
from preprocessing.records import Dialogue, Reason, Rejection


class MalformedDialogue(ValueError):
    """A JSON value that is valid JSON but not a dialogue of the expected shape."""


def turns_from_jsonl(obj):
    if not isinstance(obj, dict) or not isinstance(obj.get("turns"), list):
        raise MalformedDialogue('expected an object with a "turns" list')
    turns = []
    for i, turn in enumerate(obj["turns"]):
        if isinstance(turn, dict):
            turn = turn.get("text")
        if not isinstance(turn, str):
            raise MalformedDialogue(f'turn {i} is neither a string nor an object with a '
                                    f'string "text"')
        turns.append(turn)
    return obj.get("id"), tuple(turns)


def turns_from_switchboard(obj):
    if not isinstance(obj, dict) or not isinstance(obj.get("utts"), list):
        raise MalformedDialogue('expected an object with an "utts" list')
    turns = []
    for i, utt in enumerate(obj["utts"]):
        if not (isinstance(utt, list) and len(utt) >= 2 and isinstance(utt[1], str)):
            raise MalformedDialogue(f"utterance {i} is not [speaker, text, ...]")
        turns.append(utt[1])
    return None, tuple(turns)


class _ParseJsonLines(beam.DoFn):
    def __init__(self, to_turns, named_splits):
        self._to_turns = to_turns
        self._named_splits = named_splits

    def process(self, path):
        split = split_from_filename(path) if self._named_splits else None
        stem = os.path.splitext(os.path.basename(path))[0]
        for number, raw in read_lines(path):
            source = f"{path}:{number}"
            text = decode_utf8(raw, source)
            if isinstance(text, Rejection):
                yield rejected(text)
                continue
            if not text.strip():
                yield blank_line(source)
                continue
            try:
                dialogue_id, turns = self._to_turns(json.loads(text))
            except json.JSONDecodeError as e:
                yield reject(source, Reason.MALFORMED_JSON, str(e), text)
                continue
            except MalformedDialogue as e:
                yield reject(source, Reason.MALFORMED_RECORD, str(e), text)
                continue
            if dialogue_id is None:
                dialogue_id = f"{stem}-{number:05d}"
            yield Dialogue(str(dialogue_id), turns, source, split)


class _ReadJsonLines(beam.PTransform):
    corpus = None
    to_turns = None

    def __init__(self, input_path):
        super().__init__()
        require_path(input_path, self.corpus)
        self._files = find_files(input_path, "*.json*", self.corpus, "JSON-lines files")
        # Only a folder of split-named files defines an official split.
        self._named_splits = is_folder(input_path)
        if self._named_splits:
            unnamed = [f for f in self._files if split_from_filename(f) is None]
            if unnamed and len(unnamed) < len(self._files):
                raise InputError(
                    f"--input {input_path!r} mixes split-named files (train*, valid*/dev*, "
                    f"test*) with others ({', '.join(map(os.path.basename, unnamed[:3]))}); "
                    f"name every file by its split, or keep unnamed files only")
            self._named_splits = not unnamed

    @property
    def official_split(self):
        return self._named_splits

    def expand(self, pbegin):
        return run_reader(pbegin, self.corpus.capitalize(), self._files,
                          _ParseJsonLines(type(self).to_turns, self._named_splits))


class ReadJsonl(_ReadJsonLines):
    corpus = "jsonl"
    to_turns = staticmethod(turns_from_jsonl)


class ReadSwitchboard(_ReadJsonLines):
    corpus = "switchboard"
    to_turns = staticmethod(turns_from_switchboard)
