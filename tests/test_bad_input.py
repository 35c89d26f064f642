"""Bad input: rejected with a reason naming file and line, or a clear option error."""
import glob
import json
import os

import pytest

from preprocessing import run, transforms
from preprocessing.output import MANIFEST, STAGING
from tests.helpers import IN_MEMORY_ARGS


def preprocess(*args):
    return run.run(["--corpus", "jsonl", *args, *IN_MEMORY_ARGS])


def rejected_records(output):
    records = []
    for path in glob.glob(os.path.join(output, "rejected-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return records


def write_corpus(path):
    good = [json.dumps({"id": f"ok{i}", "turns": ["Hello there!", "Hi, how are you?"]})
            for i in range(6)]
    lines = [
        good[0].encode(),
        b'{"id": "broken", "turns": ["unterminated',                       # line 2
        json.dumps({"id": "empty", "turns": []}).encode(),                  # line 3
        json.dumps({"id": "one", "turns": ["only me"]}).encode(),           # line 4
        b'{"id": "latin", "turns": ["caf\xe9", "ok"]}',                     # line 5
        json.dumps({"id": "blank", "turns": ["hi", "   ", "bye"]}).encode(),  # line 6
        json.dumps({"id": "zw", "turns": ["hi", "\u200b"]}).encode(),       # line 7
        json.dumps({"no_turns": 1}).encode(),                               # line 8
        *[g.encode() for g in good[1:]],
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_every_bad_record_is_rejected_with_its_reason_and_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    output = str(tmp_path / "out")
    stats = preprocess("--input", str(corpus), "--output", output)
    by_line = {r["source"].rsplit(":", 1)[1]: r for r in rejected_records(output)}
    assert {line: r["reason"] for line, r in by_line.items()} == {
        "2": "malformed_json", "3": "too_few_utterances", "4": "too_few_utterances",
        "5": "invalid_utf8", "6": "blank_turn", "7": "blank_turn", "8": "malformed_record"}
    assert all(r["source"].startswith(str(corpus)) for r in by_line.values())
    assert "turn 2 of 3 is blank" in by_line["6"]["detail"]
    assert "byte" in by_line["5"]["detail"]
    assert stats["input_records"] == 13
    assert stats["written_dialogues"] == 6 and stats["rejected_records"] == 7
    assert os.path.isfile(os.path.join(output, MANIFEST))


@pytest.mark.parametrize("argv, message", [
    (["--corpus", "jsonl", "--input", "/nonexistent/corpus.jsonl"], "does not exist"),
    (["--corpus", "cornell", "--input", "."], "movie_lines.txt"),
    (["--corpus", "dailydialog", "--input", "."], "dialogues_train.txt"),
])
def test_missing_or_wrong_input_names_the_path(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv + ["--output", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--input" in err and message in err


@pytest.mark.parametrize("argv, option", [
    (["--corpus", "nope"], "--corpus"),
    (["--split", "10:1"], "--split"),
    (["--max_slice_words", "40"], "--max_slice_words"),
    (["--vocab_size", "0"], "--vocab_size"),
])
def test_bad_options_name_the_option(capsys, argv, option):
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_output_holding_a_different_run_is_refused(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    output = str(tmp_path / "out")
    preprocess("--input", str(corpus), "--output", output)
    preprocess("--input", str(corpus), "--output", output)  # the same run may be redone
    with pytest.raises(SystemExit):
        run.main(["--corpus", "jsonl", "--input", str(corpus), "--output", output,
                  "--vocab_size", "5", *IN_MEMORY_ARGS])
    err = capsys.readouterr().err
    assert "different run" in err and "vocab_size" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        run.main(["--corpus", "jsonl", "--input", str(corpus), "--output", str(other),
                  *IN_MEMORY_ARGS])
    assert "not empty" in capsys.readouterr().err
    stats = preprocess("--input", str(corpus), "--output", output, "--vocab_size", "5",
                       "--overwrite")
    assert stats["vocab_size"] == 5 + 4


def test_a_crashed_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    output = tmp_path / "out"

    def explode(self, dialogue, vocab):
        raise RuntimeError("simulated worker crash")
        yield  # pragma: no cover

    monkeypatch.setattr(transforms._EncodeAndSlice, "process", explode)
    with pytest.raises(Exception, match="simulated worker crash"):
        preprocess("--input", str(corpus), "--output", str(output))
    assert sorted(os.listdir(output)) == [STAGING]  # no run.json, no published splits
    monkeypatch.undo()
    stats = preprocess("--input", str(corpus), "--output", str(output))
    assert stats["written_dialogues"] == 6
    assert STAGING not in os.listdir(output)


def test_a_run_with_no_training_dialogue_is_refused(tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "one", "turns": ["lonely"]}) + "\n\n")
    with pytest.raises(SystemExit):
        run.main(["--corpus", "jsonl", "--input", str(corpus), "--output",
                  str(tmp_path / "out"), *IN_MEMORY_ARGS])
    err = capsys.readouterr().err
    assert "no dialogue reached the training split" in err and "2 of 2" in err
    assert not os.path.exists(tmp_path / "out" / MANIFEST)
