"""The training entry point: presets, errors, outputs on disk, and kill-and-resume."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pipeline import configs, train
from pipeline.training import factory
from tests.helpers import REPO_ROOT, TINY_OVERRIDE

FAST = (TINY_OVERRIDE + ",data.batch_size=8,data.shuffle_buffer=50,"
        "train.validation_steps=2,train.sample_responses=1")


def test_every_paper_row_is_a_preset_with_its_settings():
    assert set(configs.PRESETS) == {"hred", "vhred", "vhred_wd", "vhred_bow", "vhcr_ud",
                                    "vhred_ud", "vhred_zonly", "kla",
                                    "kla_do", "kla_bow", "fb", "fb_all",
                                    "co", "co_do", "co_ss", "co_ss_joint"}
    kla_do = configs.make_config("kla_do").model
    assert (kla_do.kl_annealing_steps, kla_do.word_drop) == (12000, 0.25)
    assert configs.make_config("fb").model.free_bits_per_dim == 0.01
    assert configs.make_config("fb_all").model.free_bits_total == 5.0
    vhcr = configs.make_config("vhcr_ud")
    assert (vhcr.model.architecture, vhcr.model.utterance_drop) == ("vhcr", 0.25)
    # The VHCR authors' settings: batch 80, Adam 1e-4, KL annealing over 25,000 steps.
    assert (vhcr.model.embedding_dim, vhcr.model.context_units, vhcr.data.batch_size,
            vhcr.train.learning_rate, vhcr.model.kl_annealing_steps) == (300, 1024, 80, 1e-4,
                                                                          25000)


def test_yaml_and_params_override_change_a_preset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  word_drop: 0.5\ntrain:\n  epochs: 3\n")
    config = configs.make_config("vhred", str(path), "train.epochs=7,model.latent_dim=64")
    assert (config.model.word_drop, config.train.epochs, config.model.latent_dim) == (0.5, 7, 64)
    with pytest.raises(configs.ConfigError, match="no_such_key"):
        configs.make_config("vhred", params_override="model.no_such_key=1")


def test_help_lists_presets_and_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--help"])
    assert e.value.code == 0 and "vhcr_ud" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "nope"])
    assert e.value.code == 2 and "--model 'nope'" in capsys.readouterr().err


def test_missing_data_says_which_command_creates_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "hred", "--data", str(tmp_path / "none"),
                    "--model_dir", str(tmp_path / "run")])
    assert e.value.code == 2
    assert "python -m preprocessing.run" in capsys.readouterr().err


def train_command(data_dir, model_dir, override):
    return [sys.executable, "-m", "pipeline.train", "--model", "vhcr_ud", "--data", data_dir,
            "--model_dir", model_dir, "--params_override", override, "--progress", "epoch",
            "--backup_every_steps", "4"]


def read_log(model_dir):
    with open(os.path.join(model_dir, "training_log.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_kill_and_resume_continues_from_the_backup(small_data, tmp_path):
    model_dir = str(tmp_path / "run")
    override = FAST + ",train.epochs=3,train.steps_per_epoch=12"
    command = train_command(small_data, model_dir, override)
    backup = os.path.join(model_dir, "backup", train.BACKUP_FILE)
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while not os.path.isfile(backup):  # pytest-timeout bounds the wait
            assert process.poll() is None, "the run ended without writing a backup"
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)  # a crash: no clean-up of any kind
        process.wait()
    finally:
        process.kill()
    resumed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                             )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    step = int(resumed.stderr.split("at step ")[1].split()[0])
    assert 4 <= step < 36 and step % 4 == 0  # a backup every 4 steps
    rows = read_log(model_dir)
    # Every epoch end (validation, checkpoints, CSV row, TensorBoard) at the global step an
    # uninterrupted run has it: no replayed epoch, no duplicate row, no step past the plan.
    assert [r["global_step"] for r in rows] == ["12", "24", "36"]  # a count, not "12.0"
    assert all(float(r["epoch_seconds"]) > 0 for r in rows)  # the study sums them
    from tests.pipeline.test_run_safety import event_steps
    validation = os.path.join(model_dir, "logs", "validation")
    assert sorted(set(event_steps(validation, "epoch_nll_bound"))) == [12, 24, 36]
    for name in ("config.yaml", "vocab.txt", "checkpoints/best.weights.h5",
                 "checkpoints/last.weights.h5"):
        assert os.path.isfile(os.path.join(model_dir, name)), name
    events = [f for _, _, fs in os.walk(os.path.join(model_dir, "logs")) for f in fs]
    assert any(f.startswith("events.out.tfevents") for f in events)


@pytest.mark.slow
@pytest.mark.parametrize("killed_in", ["ValidationDiagnostics", "TensorBoard"])
def test_a_run_killed_at_an_epoch_end_makes_that_epoch_end_when_resumed(
        small_data, tmp_path, monkeypatch, killed_in):
    """Killed after step 12's validation, before its CSV row (ValidationDiagnostics) or
    after it (TensorBoard): the resumed run validates, checkpoints and logs step 12 once.
    A backup taken at step 12 before its validation would have skipped that epoch end."""
    from pipeline.training import callbacks
    from tests.pipeline.test_run_safety import event_steps
    model_dir = str(tmp_path / "run")
    argv = ["--model", "vhcr_ud", "--data", small_data, "--model_dir", model_dir,
            "--params_override", FAST + ",train.epochs=3,train.steps_per_epoch=12",
            "--progress", "none", "--backup_every_steps", "4"]
    hook = getattr(callbacks, killed_in)
    on_epoch_end = hook.on_epoch_end

    def killed(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        raise KeyboardInterrupt  # the process ends here: nothing after this runs

    monkeypatch.setattr(hook, "on_epoch_end", killed)
    with pytest.raises(KeyboardInterrupt):
        train.main(argv)
    monkeypatch.undo()
    logged = [r["global_step"] for r in read_log(model_dir)] if os.path.isfile(
        os.path.join(model_dir, "training_log.csv")) else []
    assert logged == (["12"] if killed_in == "TensorBoard" else [])
    train.main(argv)
    assert [r["global_step"] for r in read_log(model_dir)] == ["12", "24", "36"]
    validation = os.path.join(model_dir, "logs", "validation")
    assert sorted(set(event_steps(validation, "epoch_nll_bound"))) == [12, 24, 36]
    assert os.path.isfile(os.path.join(model_dir, "checkpoints", "best.weights.h5"))


@pytest.mark.slow
def test_a_run_killed_after_early_stopping_records_its_end_without_training(
        small_data, tmp_path, monkeypatch):
    """Killed after step 24's backup, before the record of how the run ended: its log
    already ends it (step 24's bound is no better than step 12's, patience 1), so the
    resumed run records early stopping at step 24 and trains no step 36."""
    from pipeline.training import callbacks, run_record
    model_dir = str(tmp_path / "run")
    argv = ["--model", "hred", "--data", small_data, "--model_dir", model_dir,
            "--params_override", FAST + ",train.epochs=3,train.steps_per_epoch=12,"
            "train.early_stopping_patience=1", "--progress", "none",
            "--backup_every_steps", "4"]
    on_epoch_end = callbacks.BackupAndRestore.on_epoch_end

    def killed_at_step_24(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # whether or not early stopping fired at step 24

    monkeypatch.setattr(callbacks.BackupAndRestore, "on_epoch_end", killed_at_step_24)
    with pytest.raises(KeyboardInterrupt):
        train.main(argv)
    monkeypatch.undo()
    assert run_record.load(model_dir)["finished"] is None
    rows = read_log(model_dir)
    assert [r["global_step"] for r in rows] == ["12", "24"]
    rows[1]["val_nll_bound"] = str(float(rows[0]["val_nll_bound"]) + 1.0)
    with open(os.path.join(model_dir, "training_log.csv"), "w", newline="",
              encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    train.main(argv)
    assert run_record.load(model_dir)["finished"] == {"step": 24, "reason": "early stopping"}
    assert [r["global_step"] for r in read_log(model_dir)] == ["12", "24"]


def test_a_crash_while_saving_a_backup_keeps_the_previous_one(small_data, tmp_path):
    from keras_models import build_model
    from pipeline import data
    from pipeline.training import callbacks
    config = configs.make_config("hred")
    config.override({"model": {"embedding_dim": 3, "utterance_units": 4, "context_units": 4,
                               "decoder_units": 4}})
    model = build_model(config.model, len(data.load_vocabulary(small_data)))
    model.build_from_batch(next(iter(data.make_dataset(small_data, "train", 4, False))))
    backup = callbacks.BackupAndRestore(str(tmp_path), save_freq=1)
    backup.set_model(model)
    backup._save_model()
    saved = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1 for w in saved])

    def crash(filepath, overwrite=True):  # dies halfway through writing the file
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n")
        raise KeyboardInterrupt

    model.save_weights = crash
    with pytest.raises(KeyboardInterrupt):
        backup._save_model()
    del model.save_weights
    model.load_weights(os.path.join(str(tmp_path), train.BACKUP_FILE))
    for a, b in zip(model.get_weights(), saved):
        assert (a == b).all()


def test_word_vectors_initialise_the_embedding(small_data, tmp_path):
    from keras_models import build_model
    from pipeline import data
    vocab = data.load_vocabulary(small_data)
    path = tmp_path / "vectors.txt"
    path.write_text(f"2 3\n{vocab[10]} 1 2 3\nnotaword 4 5 6\n")
    config = configs.make_config("hred")
    config.override({"model": {"embedding_dim": 3, "utterance_units": 4, "context_units": 4,
                               "decoder_units": 4}})
    model = build_model(config.model, len(vocab))
    model.build_from_batch(next(iter(data.make_dataset(small_data, "train", 4, False))))
    before = model.embedding.embeddings.numpy().copy()
    factory.load_word_vectors(model, str(path), vocab)
    after = model.embedding.embeddings.numpy()
    assert after[10].tolist() == [1.0, 2.0, 3.0]
    assert (after[11:] == before[11:]).all() and (after[:10] == before[:10]).all()


def test_collapse_warning_after_patience_steps(caplog):
    from pipeline.training.callbacks import TrainingMonitor

    class FakeOptimizer:
        iterations = 0
        learning_rate = 1e-3

    class FakeModel:
        latent_names = ("utt",)
        optimizer = FakeOptimizer()

    monitor = TrainingMonitor(kl_threshold=0.01, patience_steps=3)
    monitor.set_model(FakeModel())
    monitor.on_epoch_begin(0)
    with caplog.at_level("WARNING", logger="dialogvae"):
        for value in (0.001, 0.002, 0.5, 0.001, 0.001):
            monitor.on_train_batch_end(0, {"kl_utt": value, "kl_conv": 0.0, "words": 10})
        assert not caplog.records  # never 3 low steps in a row yet
        monitor.on_train_batch_end(0, {"kl_utt": 0.001, "kl_conv": 0.0, "words": 10})
    assert len(caplog.records) == 1 and "kl_utt" in caplog.records[0].getMessage()
    assert "kl_conv" not in caplog.records[0].getMessage()  # not a latent of this model


def test_early_stopping_never_fires_before_the_objective_settles(tmp_path):
    """Patience counts validations only from train.early_stopping_start_step (the end of
    the KL ramp and scheduled sampling) on; the best checkpoint likewise."""
    import tensorflow as tf

    from pipeline.training import callbacks

    class Run:  # what the callbacks read of a model
        step_counter = tf.Variable(0, dtype=tf.int64)
        stop_training = False

    model = Run()
    stopping = callbacks.EarlyStopping(str(tmp_path / "log.csv"), start_step=400,
                                       monitor="val_nll_bound", patience=2)
    stopping.set_model(model)
    stopping.on_train_begin()
    # The bound rises for 4 validations while the KL weight still ramps up: not counted.
    for epoch, (step, bound) in enumerate([(100, 3.0), (200, 3.5), (300, 4.0), (399, 4.5),
                                           (400, 4.4), (500, 4.3), (600, 4.35), (700, 4.5)]):
        model.step_counter.assign(step)
        stopping.on_epoch_end(epoch, {"val_nll_bound": bound})
        if step < 700:
            assert not model.stop_training, step
    assert model.stop_training and stopping.best == pytest.approx(4.3)
    # A resumed run's patience counts only the armed validations in its log.
    with open(tmp_path / "log.csv", "w") as f:
        f.write("global_step,val_nll_bound\n100,3.0\n400,4.4\n500,4.3\n600,4.35\n")
    resumed = callbacks.EarlyStopping(str(tmp_path / "log.csv"), start_step=400,
                                      monitor="val_nll_bound", patience=2)
    resumed.set_model(model)
    resumed.on_train_begin()
    assert (resumed.best, resumed.wait) == (4.3, 1) and not resumed.stopped_in_log()
    # Killed after the validation that stopped it, before its end was recorded: no more.
    with open(tmp_path / "log.csv", "a") as f:
        f.write("700,4.5\n")
    assert resumed.stopped_in_log()
    best = callbacks.Checkpoint(str(tmp_path / "best.weights.h5"),
                                str(tmp_path / "log.csv"), start_step=400)
    best.set_model(model)
    best.on_train_begin()
    assert best.best == 4.3  # not the 3.0 of a step before the objective settled


def _copy_data(small_data, tmp_path, splits=None):
    """A copy of the small data whose stats.json says `splits` (e.g. an empty validation)."""
    import json
    import shutil
    copy = tmp_path / "data"
    shutil.copytree(small_data, copy)
    if splits:
        stats = json.loads((copy / "stats.json").read_text())
        for name, slices in splits.items():
            stats["splits"][name]["slices"] = slices
        (copy / "stats.json").write_text(json.dumps(stats))
    return str(copy)


@pytest.mark.parametrize("override, splits, message", [
    ("model.softmax_cutoffs=[2000,9000]", None,
     r"model.softmax_cutoffs=\[2000, 9000\] needs a vocabulary larger than 9000 words"),
    ("", {"validation": 0}, "has no validation slices"),
    ("data.batch_size=100000", None, "data.batch_size=100000 is larger than the"),
])
def test_the_config_against_the_data_is_checked_before_the_run_folder(
        small_data, tmp_path, capsys, override, splits, message):
    data_dir = _copy_data(small_data, tmp_path, splits) if splits else small_data
    model_dir = tmp_path / "run"
    args = ["--model", "hred", "--data", data_dir, "--model_dir", str(model_dir),
            "--params_override", TINY_OVERRIDE + ("," + override if override else "")]
    with pytest.raises(SystemExit) as e:
        train.main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert __import__("re").search(message, err), err
    assert not model_dir.exists()  # the corrected command is not refused afterwards


def test_a_model_dir_that_is_a_file_is_one_line(small_data, tmp_path, capsys):
    model_dir = tmp_path / "a_file"
    model_dir.write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "hred", "--data", small_data, "--model_dir", str(model_dir),
                    "--params_override", TINY_OVERRIDE])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert str(model_dir) in err and "choose another path" in err


def test_an_interrupted_checkpoint_or_log_write_keeps_the_previous_file(tmp_path, monkeypatch):
    import csv as csv_lib

    from pipeline.training import callbacks
    best = tmp_path / "checkpoints" / "best.weights.h5"
    best.parent.mkdir()
    best.write_bytes(b"the previous best checkpoint")

    class FullDisk:  # writes half a file, then the disk is full
        def save_weights(self, path, overwrite=True):
            with open(path, "wb") as f:
                f.write(b"half")
            raise OSError(28, "No space left on device", path)
    with pytest.raises(OSError):
        callbacks.save_weights_atomic(FullDisk(), str(best))
    assert best.read_bytes() == b"the previous best checkpoint"

    log = tmp_path / "training_log.csv"
    logger = callbacks.CSVLogger(str(log))
    logger.on_epoch_end(0, {"loss": 1.5, "val_nll_bound": 4.0,
                            "global_step": np.int64(12)})
    before = log.read_text()

    def full(self, rows):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(csv_lib.DictWriter, "writerows", full)
    with pytest.raises(OSError):
        logger.on_epoch_end(1, {"loss": 1.2, "val_nll_bound": 3.9, "kl_conv": 0.1})
    assert log.read_text() == before  # every earlier row is still there, none is half
    monkeypatch.undo()
    logger.on_epoch_end(1, {"loss": 1.2, "val_nll_bound": 3.9, "kl_conv": 0.1})
    rows = list(csv_lib.DictReader(open(log)))
    assert [r["epoch"] for r in rows] == ["0", "1"] and rows[0]["kl_conv"] == "NA"
    assert (rows[0]["global_step"], rows[0]["loss"]) == ("12", "1.5")  # a count stays one
