"""Helpers shared by the corpus readers: file discovery, line reading, decoding.

Inputs are found and read through Beam's filesystem API (`FileSystems.match`, `.open`),
so `--input gs://bucket/dailydialog` (with apache-beam[gcp]), `s3://`, `hdfs://` and
local paths all work; a remote store has no folders, only objects under a prefix.
"""
import os
import re

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from preprocessing.cli import ToolError
from preprocessing.records import TEST, TRAIN, VALIDATION, Reason, Rejection

REJECTED = "rejected"  # the tagged output every reader sends its rejections to


class InputError(ToolError, ValueError):
    """A problem with the input path or an option; the message says what to pass."""


def _matches(pattern):
    """Sorted paths matching a Beam filesystem pattern ([] when none, or no such store)."""
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # Beam raises BeamIOError for "nothing matched", ValueError for a scheme
        return []


def join(root, *parts):
    return FileSystems.join(root, *parts)


def is_file(path):
    """A file (an object, on a remote store), not a folder or prefix."""
    if "://" not in path:
        return os.path.isfile(path)
    return _matches(path) == [path]


def is_folder(path):
    """A local folder, or a remote prefix with objects under it."""
    if "://" not in path:
        return os.path.isdir(path)
    return bool(_matches(join(path, "*")) or _matches(join(path, "**")))


def list_files(root, pattern="*"):
    """Sorted files under `root` (at any depth) whose name matches `pattern`."""
    found = _matches(join(root, pattern)) + _matches(join(root, "**", pattern))
    return sorted(p for p in set(found) if is_file(p))


def require_path(path, corpus):
    if not path:
        raise InputError(f"--input is required for corpus {corpus!r}")
    if not (is_file(path) or is_folder(path)):
        raise InputError(f"--input {path!r} does not exist (corpus {corpus!r})")
    return path


def find_files(root, pattern, corpus, expected):
    """Sorted files under `root` matching `pattern` at any depth; InputError if none."""
    if is_file(root):
        return [root]
    files = list_files(root, pattern)
    if not files:
        raise InputError(f"--input {root!r} holds no {expected} for corpus {corpus!r}")
    return files


_SPLIT_NAMES = ((TRAIN, r"train"), (VALIDATION, r"valid|dev"), (TEST, r"test"))


def split_from_filename(path):
    """'train.jsonl', 'training-01.jsonl' -> 'train'; 'valid*', 'dev*' -> 'validation';
    'test*' -> 'test'; None if the name starts with none of them."""
    name = os.path.basename(path).lower()
    for split, pattern in _SPLIT_NAMES:
        if re.match(pattern, name):
            return split
    return None


def blank_line(source):
    return reject(source, Reason.BLANK_LINE, "empty line where a record was expected", "")


def read_lines(path):
    """Yields (1-based line number, raw bytes without the line ending)."""
    with FileSystems.open(path) as f:
        for number, raw in enumerate(f, start=1):
            yield number, raw.rstrip(b"\r\n")


def decode_utf8(raw, source):
    """Returns the decoded str, or a Rejection naming the byte offset that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Rejection(source, Reason.INVALID_UTF8,
                         f"byte {e.start} (0x{raw[e.start]:02x}) is not valid UTF-8",
                         raw.decode("utf-8", errors="replace"))


def decode_legacy(raw):
    """UTF-8 if it is, else cp1252, else Latin-1 (which never fails): Cornell's files."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def rejected(rejection):
    """Routes a Rejection to the reader's rejected output."""
    return beam.pvalue.TaggedOutput(REJECTED, rejection)


def reject(source, reason, detail, record):
    return rejected(Rejection(source, reason, detail, record))


def run_reader(pbegin, label, items, do_fn):
    """Create(items) | ParDo(do_fn) with a rejected output -> (dialogues, rejections)."""
    results = (pbegin
               | f"{label}Files" >> beam.Create(items)
               | f"{label}Parse" >> beam.ParDo(do_fn).with_outputs(REJECTED, main="dialogues"))
    return results.dialogues, results[REJECTED]
