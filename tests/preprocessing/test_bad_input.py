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


def test_a_split_spec_that_empties_a_split_is_refused(tmp_path, capsys):
    from preprocessing import run
    for spec in ("10:0:1", "10:1:0", "0:1:1"):
        with pytest.raises(SystemExit) as e:
            run.main(["--corpus", "dailydialog", "--output", str(tmp_path / "out"),
                      "--split", spec])
        assert e.value.code == 2
        assert "--split must be three positive numbers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _write_jsonl(path, dialogues):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues), encoding="utf-8")


def test_duplicate_dialogue_ids_are_rejected_and_counted(tmp_path):
    from preprocessing import run
    dialogues = [{"id": f"d{i}", "turns": ["hi there .", f"hello number {i} ."]}
                 for i in range(30)]
    dialogues.insert(5, {"id": "d3", "turns": ["a second", "d3 ."]})
    source = tmp_path / "all.jsonl"
    _write_jsonl(source, dialogues)
    stats = run.run(["--corpus", "jsonl", "--input", str(source), "--output",
                     str(tmp_path / "out"), *IN_MEMORY_ARGS])
    assert stats["rejected"] == {"duplicate_id": 1}
    assert stats["written_dialogues"] + stats["rejected_records"] == stats["input_records"]
    rejected = [json.loads(line) for f in glob.glob(str(tmp_path / "out" / "rejected*"))
                for line in open(f, encoding="utf-8")]
    assert rejected[0]["source"] == f"{source}:6"
    assert f"already read at {source}:4" in rejected[0]["detail"]
    # One input file has no official split: run.json records the hash split applied.
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["options"]["split"] == [10, 1, 1]


def test_an_input_without_a_training_file_gets_the_split_hint(tmp_path, capsys):
    from preprocessing import run
    dialogues = [{"id": f"d{i}", "turns": ["hi .", "hello ."]} for i in range(5)]
    _write_jsonl(tmp_path / "in" / "valid.jsonl", dialogues)
    _write_jsonl(tmp_path / "in" / "test.jsonl", [dict(d, id="t" + d["id"]) for d in dialogues])
    with pytest.raises(SystemExit) as e:
        run.main(["--corpus", "jsonl", "--input", str(tmp_path / "in"), "--output",
                  str(tmp_path / "out"), *IN_MEMORY_ARGS])
    assert e.value.code == 2
    assert "has no training file: give --split 10:1:1" in capsys.readouterr().err
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.slow
def test_a_killed_preprocessing_job_leaves_no_worker(tmp_path):
    """The job's Beam workers exit once the job is gone (checked by process id)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import REPO_ROOT, real_or_synthetic_root, small_raw_dailydialog
    raw = small_raw_dailydialog(tmp_path, real_or_synthetic_root(), (3000, 40, 40))
    job = subprocess.Popen([sys.executable, "-m", "preprocessing.run", "--corpus",
                            "dailydialog", "--input", str(raw), "--output",
                            str(tmp_path / "out")], cwd=REPO_ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers():
        found = []
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"preprocessing.beam_worker --job_pid {job.pid}" in command and \
                    "/bin/sh" not in command:
                found.append(int(pid))
        return found
    while not workers():  # pytest-timeout bounds the wait, not a fixed clock
        assert job.poll() is None, "the job ended before it started its workers"
        time.sleep(0.5)
    job.send_signal(signal.SIGKILL)
    job.wait()
    while workers():
        time.sleep(0.5)


def test_an_output_holding_the_input_is_refused_even_with_overwrite(tmp_path, capsys):
    from preprocessing import run
    source = tmp_path / "corpus" / "all.jsonl"
    _write_jsonl(source, [{"id": "a", "turns": ["hi .", "hello ."]}])
    for output in (tmp_path / "corpus", tmp_path):
        with pytest.raises(SystemExit) as e:
            run.main(["--corpus", "jsonl", "--input", str(source), "--output", str(output),
                      "--overwrite"])
        assert e.value.code == 2 and "would replace the corpus" in capsys.readouterr().err
    assert source.is_file()


def test_the_missing_data_hint_never_points_output_at_a_raw_corpus(tmp_path):
    from pipeline import data
    raw = tmp_path / "dailydialog"
    raw.mkdir()
    (raw / "dialogues_text.txt").write_text("hi __eou__ hello __eou__\n")
    with pytest.raises(data.MissingDataError) as e:
        data.check_data_dir(str(raw))
    assert f"--input {raw} --output data/dailydialog" in str(e.value)
