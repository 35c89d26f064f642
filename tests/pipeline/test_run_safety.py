"""Runs that cannot silently lose, mix or misreport: TensorBoard on the global step, run
records that refuse another run, validated options, and errors that name the file."""
import glob
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from pipeline import train
from pipeline.training import run_record
from serving import client, export
from tests.helpers import REPO_ROOT, TINY_OVERRIDE

pytestmark = pytest.mark.slow  # trains tiny runs through pipeline.train

FAST = (TINY_OVERRIDE + ",data.batch_size=8,data.shuffle_buffer=50,train.validation_steps=2,"
        "train.sample_responses=1,train.epochs=2,train.steps_per_epoch=3")


def train_run(data_dir, model_dir, preset="vhcr_ud", override=FAST, cwd=REPO_ROOT, *extra):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.train", "--model", preset, "--data", data_dir,
         "--model_dir", model_dir, "--params_override", override, "--progress", "epoch",
         *extra], cwd=cwd, capture_output=True, text=True)


def snapshot(model_dir):
    """{relative path: (size, mtime)} of every file in a run directory but its lock file
    (which names the last process that held it)."""
    out = {}
    for path in glob.glob(os.path.join(model_dir, "**"), recursive=True):
        if os.path.isfile(path) and os.path.basename(path) != train.LOCK_FILE:
            stat = os.stat(path)
            out[os.path.relpath(path, model_dir)] = (stat.st_size, stat.st_mtime_ns)
    return out


def event_steps(folder, tag):
    """Steps at which `tag` was written in the event files of `folder`."""
    steps = []
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


@pytest.fixture(scope="module")
def finished_run(small_data, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("safety") / "run")
    result = train_run(small_data, model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


def test_epoch_end_summaries_reach_tensorboard_on_the_global_step(finished_run):
    # 3 steps per epoch and update_freq 50: Keras alone would drop every epoch-end summary.
    logs = os.path.join(finished_run, "logs")
    assert event_steps(os.path.join(logs, "validation"), "epoch_nll_bound") == [3, 6]
    assert event_steps(os.path.join(logs, "train"), "epoch_loss") == [3, 6]
    assert event_steps(os.path.join(logs, "samples"), "sample_responses") == [3, 6]


def test_rerunning_a_finished_run_changes_nothing(small_data, finished_run):
    before = snapshot(finished_run)
    result = train_run(small_data, finished_run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "is finished (all planned steps at step 6 of 6); nothing to do" in result.stdout
    assert snapshot(finished_run) == before


def test_a_run_that_used_its_steps_trains_further_when_given_more_epochs(
        small_data, finished_run, tmp_path, capsys):
    run = str(tmp_path / "run")
    shutil.copytree(finished_run, run)
    longer = FAST.replace("train.epochs=2", "train.epochs=3")

    def in_process(override):
        with pytest.raises(SystemExit) as e:
            train.main(["--model", "vhcr_ud", "--data", small_data, "--model_dir", run,
                        "--params_override", override, "--progress", "none"])
            raise SystemExit(0)
        return e.value.code, capsys.readouterr()
    # Only a schedule that does not read the planned length is the same run made longer.
    code, cosine = in_process(longer + ",train.lr_decay=cosine")
    assert code == 2 and "train.lr_decay: 'constant' there" in cosine.err
    result = train_run(small_data, run, "vhcr_ud", longer)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "used its 6 planned steps; training further, to 9" in result.stderr
    record = run_record.load(run)
    assert record["finished"] == {"step": 9, "reason": "all planned steps"}
    assert record["extended"] == [{"step": 6, "epochs": 2}]
    assert record["config"]["train"]["epochs"] == 3
    # The log goes on from the old end: the first 6 steps are not trained again.
    assert event_steps(os.path.join(run, "logs", "validation"), "epoch_nll_bound") == [
        3, 6, 9]
    code, again = in_process(longer)
    assert code == 0 and "is finished (all planned steps at step 9 of 9)" in again.out


def test_another_preset_config_or_vocabulary_is_refused_untouched(small_data, finished_run,
                                                                  tmp_path):
    before = snapshot(finished_run)
    other_preset = train_run(small_data, finished_run, "hred")
    assert other_preset.returncode == 2
    assert "--model: vhcr_ud there, hred now" in other_preset.stderr
    assert "give a new --model_dir" in other_preset.stderr
    other_config = train_run(small_data, finished_run, "vhcr_ud",
                             FAST + ",train.learning_rate=0.05")
    assert other_config.returncode == 2
    assert "train.learning_rate: 0.0001 there, 0.05 now" in other_config.stderr

    swapped = str(tmp_path / "swapped")  # the same data with two words' ids exchanged
    shutil.copytree(small_data, swapped)
    vocab = open(os.path.join(swapped, "vocab.txt"), encoding="utf-8").read().split("\n")
    vocab[10], vocab[11] = vocab[11], vocab[10]
    open(os.path.join(swapped, "vocab.txt"), "w", encoding="utf-8").write("\n".join(vocab))
    other_vocab = train_run(swapped, finished_run)
    assert other_vocab.returncode == 2
    assert "vocabulary (vocab.txt hash): differs" in other_vocab.stderr
    assert snapshot(finished_run) == before  # nothing rewritten before the refusal


def test_a_second_process_training_in_the_same_model_dir_is_refused(small_data,
                                                                     finished_run):
    from preprocessing import files
    before = snapshot(finished_run)
    with files.exclusive_lock(os.path.join(finished_run, train.LOCK_FILE)):
        second = train_run(small_data, finished_run)
    assert second.returncode == 2
    assert (f"--model_dir {finished_run} is being trained by another process "
            f"(pid {os.getpid()} on ") in second.stderr
    assert snapshot(finished_run) == before
    again = train_run(small_data, finished_run)  # the lock ended with its holder
    assert again.returncode == 0 and "is finished" in again.stdout


def test_bad_config_values_exit_2_and_write_nothing(small_data, tmp_path, capsys):
    cases = [("train.learning_rate=-0.1", "train.learning_rate=-0.1 must be > 0"),
             ("train.epochs=abc", "train.epochs"),
             ("data.batch_size=0", "data.batch_size=0 must be >= 1"),
             ("train.epochs", "each override is KEY=VALUE")]
    for override, message in cases:
        model_dir = tmp_path / override.replace("=", "_")
        with pytest.raises(SystemExit) as e:
            train.main(["--model", "hred", "--data", small_data, "--model_dir", str(model_dir),
                        "--params_override", override])
        assert e.value.code == 2, override
        assert message in capsys.readouterr().err, override
        assert not model_dir.exists(), override
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "hred", "--data", small_data, "--model_dir",
                    str(tmp_path / "m"), "--config_file", str(tmp_path / "missing.yaml")])
    assert e.value.code == 2
    assert f"--config_file {tmp_path / 'missing.yaml'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_corrupt_shard_is_named(small_data, tmp_path):
    data = str(tmp_path / "data")
    shutil.copytree(small_data, data)
    shard = sorted(glob.glob(os.path.join(data, "train", "*.tfrecord")))[0]
    with open(shard, "r+b") as f:
        f.truncate(60)  # inside the first record
    result = train_run(data, str(tmp_path / "run"))
    assert result.returncode == 2
    assert shard in result.stderr and "python -m preprocessing.run --overwrite" in result.stderr


def test_a_truncated_checkpoint_is_named(finished_run, tmp_path):
    broken = tmp_path / "broken.weights.h5"
    data = open(os.path.join(finished_run, "checkpoints", "best.weights.h5"), "rb").read()
    broken.write_bytes(data[:len(data) // 3])
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.evaluate", "--model_dir", finished_run,
         "--checkpoint", str(broken), "--max_examples", "2"], cwd=REPO_ROOT,
        capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{broken} cannot be loaded" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_relative_data_path_resolves_from_where_the_run_was_made(small_data, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(small_data, project / "data")
    made = train_run("data", "run", "hred", FAST.replace("train.epochs=2", "train.epochs=1"),
                     str(project))
    assert made.returncode == 0, made.stderr[-3000:]
    elsewhere = subprocess.run(
        [sys.executable, "-m", "pipeline.evaluate", "--model_dir", str(project / "run"),
         "--modes", "greedy", "--max_examples", "2"], cwd=str(tmp_path),
        capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert elsewhere.returncode == 0, elsewhere.stderr[-3000:]


def test_export_refuses_a_version_folder_as_its_base(tmp_path, capsys):
    base = tmp_path / "models" / "x" / "1"
    with pytest.raises(SystemExit) as e:
        export.main(["--model_dir", str(tmp_path / "no_run"), "--export_base", str(base)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "is a version folder" in err and f"--export_base {base.parent}" in err
    assert not (tmp_path / "models").exists()


def test_export_to_a_base_that_is_a_file_is_one_line(finished_run, tmp_path, capsys):
    base = tmp_path / "models"
    base.write_text("a file where the export base should be")
    with pytest.raises(SystemExit) as e:
        export.main(["--model_dir", finished_run, "--export_base", str(base)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and str(base) in err
    assert base.read_text() == "a file where the export base should be"


@pytest.mark.parametrize("address, expected", [
    ("http://host:8501/co_ss", ("http", "host:8501", "co_ss", None)),
    ("http://host:8501/v1/models/co_ss", ("http", "host:8501", "co_ss", None)),
    ("https://host/v1/models/co_ss/versions/3:predict", ("https", "host", "co_ss", "3")),
    ("grpc://host:8500/co_ss", ("grpc", "host:8500", "co_ss", None)),
])
def test_server_addresses_are_parsed_with_urllib(address, expected):
    assert client.parse_address(address) == expected


@pytest.mark.parametrize("address, message", [
    ("http://host:8501", "name one model"),
    ("http://host:8501/v1/models/co_ss/extra", "/v1/models/MODEL"),
    ("ftp://host/co_ss", "expected http://"),
    ("http:///co_ss", "no host"),
])
def test_bad_server_addresses_say_what_is_wrong(address, message):
    with pytest.raises(ValueError, match=message):
        client.parse_address(address)


def test_unknown_preprocessing_flags_and_runners_exit_2(tmp_path, capsys):
    from preprocessing import run
    for argv, message in ((["--vocab-size", "100"], "unrecognized argument '--vocab-size'"),
                          (["--runner", "NoSuchRunner"], "--runner NoSuchRunner")):
        with pytest.raises(SystemExit) as e:
            run.run(["--corpus", "dailydialog", "--output", str(tmp_path / "out"), *argv])
        assert e.value.code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_runtime_and_decoding_sections_are_saved_and_honoured_on_reload(small_data, tmp_path):
    import yaml

    from pipeline.restore import load_run
    model_dir = str(tmp_path / "run")
    made = train_run(small_data, model_dir, "hred",
                     FAST.replace("train.epochs=2", "train.epochs=1")
                     + ",decoding.beam_size=3,decoding.length_alpha=0.2",
                     REPO_ROOT, "--mixed_precision", "mixed_float16")
    assert made.returncode == 0, made.stderr[-3000:]
    stored = yaml.safe_load(open(os.path.join(model_dir, "config.yaml")))
    assert stored["runtime"]["mixed_precision"] == "mixed_float16"
    assert stored["decoding"] == {"beam_size": 3, "length_alpha": 0.2, "temperature": 1.0}
    run = load_run(model_dir)  # a loss-scaled optimizer's state loads only into its kind
    assert run.model.decoder.gru.dtype_policy.name == "mixed_float16"
    import keras
    assert keras.mixed_precision.global_policy().name == "float32"  # left as it was
    module = export.ServingModule(run)
    assert module.length_alpha == 0.2


def test_every_tensorboard_scalar_is_on_the_global_step(small_data, tmp_path):
    """A CO run alternating phases every step: its AE optimizer has taken half the steps,
    and every scalar (epoch_*, evaluation_*_vs_iterations) must still sit on the global
    step; the README lists the tags each kind of model writes."""
    model_dir = str(tmp_path / "co")
    result = train_run(small_data, model_dir, "co_ss",
                       FAST + ",model.phase_period_steps=1,model.scheduled_sampling_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    steps, tags = set(), set()
    for path in glob.glob(os.path.join(model_dir, "logs", "*", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.add(event.step)
                tags.add(value.tag)
    assert steps == {3, 6}, steps  # the two validations' global steps
    assert {"evaluation_nll_bound_vs_iterations", "epoch_keep_rate"} <= tags
    readme = open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8").read()
    for tag in tags:
        name = tag.removeprefix("epoch_").removeprefix("evaluation_").removesuffix(
            "_vs_iterations").replace("tokens_per_sec_cvae", "tokens_per_sec_ae")
        assert f"`{name}`" in readme or name == "sample_responses", tag
