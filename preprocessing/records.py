"""The records that flow through the Beam job, and the reasons a record is rejected."""
import json
from typing import NamedTuple, Optional, Tuple

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)


class Reason:
    """Why an input record was rejected (the keys of `stats.json`'s `rejected`)."""
    INVALID_UTF8 = "invalid_utf8"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_RECORD = "malformed_record"
    MISSING_LINES = "missing_lines"
    TOO_FEW_UTTERANCES = "too_few_utterances"
    BLANK_TURN = "blank_turn"
    BLANK_LINE = "blank_line"  # an empty line where a record was expected
    DUPLICATE_ID = "duplicate_id"  # a second dialogue with an id already read


class Dialogue(NamedTuple):
    """A dialogue as a reader found it: raw turn texts, in order."""
    id: str
    turns: Tuple[str, ...]
    source: str  # "file:line" (or "file") so every message can name the record
    split: Optional[str] = None  # the corpus's official split, if it has one


class TokenizedDialogue(NamedTuple):
    id: str
    source: str
    split: str
    utterances: Tuple[Tuple[str, ...], ...]  # tokens, already truncated
    truncated: int  # how many utterances were cut at max_utterance_words


class Rejection(NamedTuple):
    source: str
    reason: str
    detail: str
    record: str  # the raw record (or as much of it as could be decoded)

    def to_json(self):
        return json.dumps(self._asdict(), ensure_ascii=False, sort_keys=True)
