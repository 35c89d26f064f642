"""Each corpus reader on real files from ../shared/datasets (or on its documented format)."""
import collections
import json
import os

import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem

from preprocessing.corpora import (
    ReadCornell,
    ReadDailyDialog,
    ReadJsonl,
    ReadSwitchboard,
    ReadUbuntu,
)
from preprocessing.corpora.common import InputError, split_from_filename
from preprocessing.corpora.dailydialog import parse_line
from preprocessing.corpora.ubuntu import merge_turns
from preprocessing.records import Reason
from tests.helpers import corpus_path, run_and_collect


def read(reader, tmp_path):
    def build(p):
        dialogues, rejections = p | reader
        return {"dialogues": dialogues, "rejections": rejections}
    out = run_and_collect(build, tmp_path)
    return out["dialogues"], out["rejections"]


@pytest.mark.corpus
def test_dailydialog_official_split_and_turns(tmp_path):
    root = corpus_path("dailydialog")
    dialogues, rejections = read(ReadDailyDialog(root), tmp_path)
    assert not rejections
    assert collections.Counter(d.split for d in dialogues) == {
        "train": 11118, "validation": 1000, "test": 1000}
    with open(f"{root}/test/dialogues_test.txt", encoding="utf-8") as f:
        line3 = f.readlines()[2]
    third = next(d for d in dialogues if d.id == "test-00003")
    assert third.turns == tuple(t.strip() for t in line3.split("__eou__")[:-1])
    assert third.source.endswith("dialogues_test.txt:3")
    assert sum(len(d.turns) for d in dialogues) == 102979


def test_dailydialog_line_parsing():
    assert parse_line("Hi . __eou__ Hello ! __eou__") == ("Hi .", "Hello !")
    assert parse_line("") == ()
    assert parse_line("one __eou__") == ("one",)


@pytest.mark.corpus
def test_cornell_joins_lines_in_conversation_order_and_rejects_missing(tmp_path):
    root = corpus_path("cornell")
    dialogues, rejections = read(ReadCornell(root), tmp_path)
    # SOURCE.md: 8,067 conversations are joinable; the other 35,688 miss lines.
    assert len(dialogues) == 8067
    reasons = collections.Counter(r.reason for r in rejections)
    assert reasons == {Reason.MISSING_LINES: 35688, Reason.BLANK_LINE: 1}  # trailing empty line
    first = next(d for d in dialogues if d.id == "m0-L194")
    assert first.turns[0].startswith("Can we make this quick?")
    assert first.turns[1].startswith("Well, I thought we'd start with pronunciation")
    assert all(r.source.split(":")[-1].isdigit() for r in rejections)


def test_cornell_tolerates_cp1252_bytes(tmp_path):
    sep = b" +++$+++ "
    (tmp_path / "movie_lines.txt").write_bytes(
        sep.join([b"L2", b"u0", b"m0", b"A", b"Caf\xe9 \x85 ok"]) + b"\r\n" +
        sep.join([b"L1", b"u1", b"m0", b"B", b"Hi there"]) + b"\r\n" + b"broken line\r\n")
    (tmp_path / "movie_conversations.txt").write_bytes(
        sep.join([b"u0", b"u1", b"m0", b"['L1', 'L2']"]) + b"\n")
    dialogues, rejections = read(ReadCornell(str(tmp_path)), tmp_path / "out")
    assert [d.turns for d in dialogues] == [("Hi there", "Café … ok")]
    assert [(r.reason, r.source.endswith("movie_lines.txt:3")) for r in rejections] == [
        (Reason.MALFORMED_RECORD, True)]


@pytest.mark.corpus
def test_ubuntu_csv_tsv_and_official_v2_split(tmp_path):
    root = corpus_path("ubuntu")
    dialogues, rejections = read(ReadUbuntu(root), tmp_path)
    assert not rejections
    assert len(dialogues) == 3333 + 50  # dialogueText.csv dialogs + tsv_sample files
    splits = collections.Counter(d.split for d in dialogues if not d.id.startswith("tsv_sample"))
    # SOURCE.md: 16 of the CSV's dialogs are in valfiles.csv and 27 in testfiles.csv.
    assert splits == {"train": 3333 - 43, "validation": 16, "test": 27}
    last = next(d for d in dialogues if d.id == "3/260609")
    assert 1 <= len(last.turns) <= 3


def test_ubuntu_merges_consecutive_messages_of_one_sender():
    assert merge_turns([("a", "hi"), ("a", "there"), ("b", "yo"), ("a", "x")]) == (
        "hi there", "yo", "x")


def test_switchboard_zhao_format_with_split_named_files(tmp_path):
    def dialogue(*texts):
        return json.dumps({"A": {}, "B": {}, "topic": "CARE", "prompt": "p", "utts": [
            ["A" if i % 2 == 0 else "B", t, ["sd", [0.0, 1.0, 0.0, 0.0]]]
            for i, t in enumerate(texts)]})
    (tmp_path / "train.jsonl").write_text(dialogue("hi .", "hello .") + "\n" +
                                          '{"utts": "nope"}\n')
    (tmp_path / "test.jsonl").write_text(dialogue("a", "b", "c") + "\n")
    dialogues, rejections = read(ReadSwitchboard(str(tmp_path)), tmp_path / "out")
    assert sorted((d.split, d.turns) for d in dialogues) == [
        ("test", ("a", "b", "c")), ("train", ("hi .", "hello ."))]
    assert [(r.reason, r.source.endswith("train.jsonl:2")) for r in rejections] == [
        (Reason.MALFORMED_RECORD, True)]


def test_jsonl_strings_or_speaker_objects_and_id_fallback(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        json.dumps({"id": "x1", "turns": ["Hi!", "Hello."]}) + "\n" +
        json.dumps({"turns": [{"speaker": "A", "text": "a"}, {"speaker": "B", "text": "b"}]})
        + "\n")
    dialogues, rejections = read(ReadJsonl(str(path)), tmp_path / "out")
    assert not rejections
    assert sorted((d.id, d.turns, d.split) for d in dialogues) == [
        ("mine-00002", ("a", "b"), None), ("x1", ("Hi!", "Hello."), None)]


def test_ubuntu_csv_quoted_newlines_blank_and_bad_rows(tmp_path):
    (tmp_path / "dialogueText.csv").write_bytes(
        b"folder,dialogueID,date,from,to,text\n"
        b'3,1.tsv,2008-01-01T00:00:00.000Z,a,,"hello\nworld"\n'
        b"3,1.tsv,2008-01-01T00:01:00.000Z,b,a,hi\n"
        b"\n"
        b"3,2.tsv,only,five,fields\n"
        b"3,2.tsv,2008-01-01T00:01:00.000Z,b,a,caf\xe9\n")
    dialogues, rejections = read(ReadUbuntu(str(tmp_path)), tmp_path / "out")
    assert [(d.id, d.turns, d.source.rsplit(":", 1)[1]) for d in dialogues] == [
        ("3/1", ("hello\nworld", "hi"), "2")]
    assert sorted((r.reason, r.source.rsplit(":", 1)[1]) for r in rejections) == [
        ("blank_line", "5"), ("invalid_utf8", "7"), ("malformed_record", "6")]


def test_ubuntu_rejects_a_file_that_is_no_dialog(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no Ubuntu dialog"):
        ReadUbuntu(str(tmp_path / "notes.txt"))


def test_split_named_files_and_mixed_folders(tmp_path):
    assert [split_from_filename(n) for n in (
        "train.jsonl", "training-01.jsonl", "valid.jsonl", "dev.jsonl", "validation.json",
        "testing.jsonl", "other.jsonl")] == [
        "train", "train", "validation", "validation", "validation", "test", None]
    (tmp_path / "train.jsonl").write_text("")
    (tmp_path / "extra.jsonl").write_text("")
    with pytest.raises(InputError, match="mixes split-named files"):
        ReadJsonl(str(tmp_path))


def test_dailydialog_requires_all_three_split_files(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "dialogues_train.txt").write_text("a __eou__ b __eou__\n")
    with pytest.raises(InputError, match="validation, test"):
        ReadDailyDialog(str(tmp_path))


class RemoteFileSystem(LocalFileSystem):
    """A non-local scheme (remote://) served from a local folder: what a gs:// or s3://
    input asks of the readers (no os.path calls, Beam's match/open only)."""

    ROOT = None

    @classmethod
    def scheme(cls):
        return "remote"

    def _local(self, path):
        return path.replace("remote://", RemoteFileSystem.ROOT + "/", 1)

    def _remote(self, path):
        return path.replace(RemoteFileSystem.ROOT + "/", "remote://", 1)

    def join(self, base, *paths):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in paths)])

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        return [MatchResult(pattern, [FileMetadata(self._remote(m.path), m.size_in_bytes,
                                                   m.last_updated_in_seconds)
                                      for m in r.metadata_list if not os.path.isdir(m.path)])
                for pattern, r in zip(patterns, results)]

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def exists(self, path):
        return os.path.exists(self._local(path))


def test_readers_find_and_read_inputs_through_beam_filesystems(tmp_path):
    """A jsonl folder and a DailyDialog layout on a non-local scheme: files are found with
    FileSystems.match and read with FileSystems.open, rejections keep their file:line."""
    store = tmp_path / "store"
    (store / "chats").mkdir(parents=True)
    (store / "chats" / "train.jsonl").write_text(
        json.dumps({"id": "a", "turns": ["hi .", "hello ."]}) + "\n\n", encoding="utf-8")
    (store / "chats" / "test.jsonl").write_text(
        json.dumps({"id": "b", "turns": ["bye ."]}) + "\n", encoding="utf-8")
    for split in ("train", "validation", "test"):
        (store / "dd" / split).mkdir(parents=True)
        (store / "dd" / split / f"dialogues_{split}.txt").write_text(
            "Hi . __eou__ Hello ! __eou__\n", encoding="utf-8")
    RemoteFileSystem.ROOT = str(store)
    dialogues, rejections = read(ReadJsonl("remote://chats"), tmp_path / "a")
    assert sorted((d.id, d.split, d.source) for d in dialogues) == [
        ("a", "train", "remote://chats/train.jsonl:1"),
        ("b", "test", "remote://chats/test.jsonl:1")]
    assert [r.source for r in rejections] == ["remote://chats/train.jsonl:2"]  # blank line
    dialogues, _ = read(ReadDailyDialog("remote://dd"), tmp_path / "b")
    assert sorted(d.source for d in dialogues) == [
        f"remote://dd/{s}/dialogues_{s}.txt:1" for s in ("test", "train", "validation")]
    with pytest.raises(InputError, match="does not exist"):
        ReadJsonl("remote://nothing_here")
