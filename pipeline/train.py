"""Train a conversation model from preprocessed TFRecords.

    python -m pipeline.train --model co_ss --data data/dailydialog --model_dir runs/co_ss

Rerunning the same command after a crash resumes from the last backup (weights,
optimizer state and position in the training stream). A second process training in the same
MODEL_DIR is refused while the first runs (MODEL_DIR/train.lock). TensorBoard: --logdir
MODEL_DIR/logs.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator, Sequence

import keras
import tensorflow as tf
import yaml

from pipeline import configs, data
from pipeline.training import callbacks as callbacks_lib
from pipeline.training import distribute, run_record
from pipeline.training.budget import check_against_data, check_budget, planned_steps
from pipeline.training.factory import compile_model, learning_rate
from preprocessing import files

log = logging.getLogger("dialogvae")
PROGRESS = {"bar": 1, "epoch": 2, "none": 0}  # --progress -> Keras's verbose
BACKUP_FILE = "latest.weights.h5"  # what keras.callbacks.BackupAndRestore writes
LOCK_FILE = "train.lock"  # held by the process training in a model_dir
# The main job's recipe (`make`, benchmarks.time_to_quality --size demo).
DEMO_CONFIG = os.path.join(os.path.dirname(__file__), "demo.yaml")


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m pipeline.train`."""
    parser = cli.base_parser("python -m pipeline.train", __doc__,
                             epilog="presets:\n" + configs.describe_presets())
    parser.add_argument("--model", default="co_ss", help="a preset (listed below)")
    parser.add_argument("--data", help="preprocessed data folder (default: data.data_dir "
                        "of the preset, data/dailydialog)")
    parser.add_argument("--model_dir", help="checkpoints, logs, config (default: runs/MODEL)")
    parser.add_argument("--config_file", help="YAML overriding the preset")
    parser.add_argument("--params_override", help="e.g. model.word_drop=0.3,train.epochs=5")
    # Runtime flags set the config's runtime section (saved in config.yaml, honoured by
    # every tool that reloads the run); unset, the config's values stand.
    parser.add_argument("--strategy",
                        choices=configs.choices_of("runtime", "distribution_strategy"),
                        help="runtime.distribution_strategy (default: default)")
    parser.add_argument("--num_cpu_devices", type=int,
                        help="runtime.num_cpu_devices: logical CPUs for --strategy mirrored "
                        "when there is no GPU (default 2)")
    parser.add_argument("--mixed_precision",
                        choices=configs.choices_of("runtime", "mixed_precision"),
                        help="runtime.mixed_precision (default: none)")
    parser.add_argument("--jit_compile", action="store_true", default=None,
                        help="runtime.jit_compile: XLA; made GRU training slower on CPU here, "
                        "measure first")
    parser.add_argument("--backup_every_steps", type=int, default=200)
    parser.add_argument("--progress", choices=tuple(PROGRESS), default=None,
                        help="Keras progress: a bar, one line per epoch, or none (default: "
                        "bar on a terminal, else epoch)")
    return parser


def restore_backup(model: keras.Model, backup_dir: str) -> int:
    """Loads the last backup (if any) before fit; returns the optimizer step it holds."""
    from pipeline.restore import load_weights
    path = os.path.join(backup_dir, BACKUP_FILE)
    if not os.path.isfile(path):
        return 0
    load_weights(model, path)
    step = callbacks_lib.global_step(model)
    log.info("resuming from %s at step %d", path, step)
    return step


def write_config(model_dir: str, config: configs.ExperimentConfig) -> None:
    """The run's config as config.yaml (what every tool reloads it from)."""
    with open(os.path.join(model_dir, "config.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(config.as_dict(), f, sort_keys=False)


def start_run_dir(config: configs.ExperimentConfig, model_dir: str, preset: str,
                  argv: Sequence[str] | None = None) -> dict | None:
    """Checks `model_dir` against this run before anything is written there: a new run
    gets its record, config.yaml and vocab.txt; the same run continues untouched; another
    run is refused (ConfigError). Returns the stored record of a continuing run or the
    new one."""
    record = run_record.make_record(preset, config, config.data.data_dir, argv)
    old = run_record.check_continues(model_dir, record)
    if old is not None:
        return old
    os.makedirs(model_dir, exist_ok=True)
    write_config(model_dir, config)
    shutil.copy(os.path.join(config.data.data_dir, "vocab.txt"),
                os.path.join(model_dir, "vocab.txt"))
    run_record.save(model_dir, record)
    return record


def train_further(model_dir: str, record: dict, config: configs.ExperimentConfig,
                  total_steps: int) -> bool:
    """A run that used all its planned steps and is now given more epochs (the same run
    otherwise: `run_record.extends`) continues from its last backup; the record keeps
    where each earlier plan ended. A run stopped early stays finished."""
    done = record.get("finished")
    if not (done and done["reason"] == "all planned steps" and done["step"] < total_steps
            and run_record.extends(record, {"config": config.as_dict()})):
        return record
    log.info("%s used its %d planned steps; training further, to %d", model_dir,
             done["step"], total_steps)
    record = dict(record, config=config.as_dict(), finished=None,
                  extended=[*record.get("extended", []),
                            {"step": done["step"], "epochs": record["config"]["train"][
                                "epochs"]}])
    run_record.save(model_dir, record)
    write_config(model_dir, config)
    return record


def train(config: configs.ExperimentConfig, model_dir: str,
          strategy: tf.distribute.Strategy | None = None, backup_every_steps: int = 200,
          verbose: str | int = "auto", preset: str = "custom",
          argv: Sequence[str] | None = None
          ) -> tuple[keras.Model | None, keras.callbacks.History | None]:
    """Trains per `config`; returns (model, keras History), or (None, None) when `model_dir`
    holds this run already finished. Resumes if model_dir has a backup; a resumed run's
    epochs, validations, checkpoints and CSV rows fall at the same global steps as an
    uninterrupted run's."""
    strategy = strategy or tf.distribute.get_strategy()
    configs.validate(config)
    data_dir = config.data.data_dir
    vocab = data.load_vocabulary(data_dir)
    stats = data.load_stats(data_dir)
    batch_size = config.data.batch_size
    if batch_size % strategy.num_replicas_in_sync:
        raise configs.ConfigError(
            f"data.batch_size={batch_size} does not split evenly over "
            f"{strategy.num_replicas_in_sync} replicas; use a multiple of "
            f"{strategy.num_replicas_in_sync}")
    check_against_data(config, stats, len(vocab))
    steps_per_epoch, total_steps = planned_steps(config, stats)
    check_budget(config, total_steps)
    learning_rate(config, total_steps)  # refuses a bad schedule before anything is written
    with run_lock(model_dir):
        record = start_run_dir(config, model_dir, preset, argv)
        record = train_further(model_dir, record, config, total_steps)
        if record.get("finished"):
            done = record["finished"]
            print(f"{model_dir} is finished ({done['reason']} at step {done['step']} of "
                  f"{total_steps}); nothing to do. To train further, start a new --model_dir "
                  "(a run that used all its steps at a constant learning rate continues when "
                  "given more train.epochs).")
            return None, None
        return fit(config, model_dir, record, vocab, steps_per_epoch, total_steps, strategy,
                   backup_every_steps, verbose)


@contextlib.contextmanager
def run_lock(model_dir: str) -> Iterator[None]:
    """Keeps a second training process out of `model_dir` while this one trains (two would
    overwrite each other's backups and checkpoints): it is refused with a ConfigError
    naming the holder. The lock dies with its process, so a crashed run resumes at once.
    A new folder that a failure leaves holding only the lock file is removed."""
    created = not os.path.exists(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    try:
        with files.exclusive_lock(os.path.join(model_dir, LOCK_FILE)):
            yield
    except files.Locked as holder:
        raise configs.ConfigError(
            f"--model_dir {model_dir} is being trained by another process ({holder}). Wait "
            "for it to end (rerunning the same command then resumes or reports it finished), "
            "or stop it; to train something else at the same time give a new --model_dir. "
            "Each worker of a multi-worker run needs its own --model_dir.") from None
    except BaseException:
        if created and os.listdir(model_dir) == [LOCK_FILE]:
            shutil.rmtree(model_dir, ignore_errors=True)
        raise


def fit(config: configs.ExperimentConfig, model_dir: str, record: dict, vocab: list[str],
        steps_per_epoch: int, total_steps: int, strategy: tf.distribute.Strategy,
        backup_every_steps: int, verbose: str | int
        ) -> tuple[keras.Model, keras.callbacks.History | None]:
    """The training of a checked, locked run directory: from its backup, if any, to early
    stopping or the planned steps; records how it ended."""
    data_dir, batch_size = config.data.data_dir, config.data.batch_size
    keras.utils.set_random_seed(config.train.seed)
    validation = data.make_dataset(data_dir, "validation", batch_size, training=False,
                                   max_turns=config.data.max_turns)
    with strategy.scope():
        model = compile_model(config, len(vocab), next(iter(validation)), vocab, total_steps)
        backup_dir = os.path.join(model_dir, "backup")
        resume_step = restore_backup(model, backup_dir)

    log_dir = os.path.join(model_dir, "logs")
    checkpoints = os.path.join(model_dir, "checkpoints")
    csv_path = os.path.join(model_dir, "training_log.csv")
    start_step = config.train.early_stopping_start_step
    stopping = callbacks_lib.EarlyStopping(csv_path, start_step, monitor="val_nll_bound",
                                           patience=config.train.early_stopping_patience)
    csv_logger = callbacks_lib.CSVLogger(csv_path)
    csv_logger.forget_after(resume_step)  # before the callbacks below read the log
    callbacks = [
        callbacks_lib.StopAtStep(total_steps),
        callbacks_lib.TrainingMonitor(config.train.collapse_kl_threshold,
                                      config.train.collapse_patience_steps),
        *([callbacks_lib.PhaseSchedule(steps_per_epoch)] if hasattr(model, "phases") else []),
        callbacks_lib.ValidationDiagnostics(validation, vocab,
                                            os.path.join(log_dir, "samples"),
                                            data.data_options(data_dir)["max_utterance_words"],
                                            num_samples=config.train.sample_responses),
        callbacks_lib.Checkpoint(os.path.join(checkpoints, "best.weights.h5"), csv_path,
                                 start_step=start_step),
        callbacks_lib.Checkpoint(os.path.join(checkpoints, "last.weights.h5"),
                                 best_only=False),
        stopping,
        csv_logger,
        callbacks_lib.TensorBoard(log_dir, update_freq=50),
        # Last: its epoch-end backup follows that epoch end's every record.
        callbacks_lib.BackupAndRestore(backup_dir, save_freq=backup_every_steps,
                                       delete_checkpoint=False),
    ]
    # A run resumed mid-epoch first finishes that epoch with its remaining batches only,
    # so every later epoch end (validation, checkpoints, CSV row) keeps its global step.
    epoch, done_in_epoch = divmod(resume_step, steps_per_epoch)
    fits = [(epoch, config.train.epochs, steps_per_epoch)]
    if done_in_epoch:
        fits = [(epoch, epoch + 1, steps_per_epoch - done_in_epoch),
                (epoch + 1, config.train.epochs, steps_per_epoch)]
    history = None
    # Killed after stopping early, before the record below: nothing is left to train.
    stopped_before = stopping.stopped_in_log()
    for first, last, steps in [] if stopped_before else fits:
        if first >= last or callbacks_lib.global_step(model) >= total_steps:
            break
        train_data = data.make_dataset(
            data_dir, "train", batch_size, training=True,
            shuffle_buffer=config.data.shuffle_buffer, seed=config.train.seed,
            max_turns=config.data.max_turns, skip_batches=callbacks_lib.global_step(model))
        try:
            history = model.fit(
                train_data, epochs=last, steps_per_epoch=steps, initial_epoch=first,
                validation_data=validation,
                validation_steps=config.train.validation_steps or None,
                callbacks=callbacks, verbose=verbose)
        except tf.errors.DataLossError as e:
            raise data.corrupt_shard_error(data_dir, e) from None
        if stopping.stopped_epoch:
            break
    step = callbacks_lib.global_step(model)
    reason = ("early stopping" if stopping.stopped_epoch or stopped_before
              else "all planned steps" if step >= total_steps else None)
    if reason:
        record["finished"] = {"step": step, "reason": reason}
        run_record.save(model_dir, record)
    return model, history


def run(args: argparse.Namespace, argv: Sequence[str] | None = None
        ) -> tuple[keras.Model | None, keras.callbacks.History | None]:
    """A parsed command line: its config, data and strategy, then `train`."""
    data_dir = args.data or configs.DataConfig().data_dir
    model_dir = args.model_dir or os.path.join("runs", args.model)
    progress = args.progress or ("bar" if sys.stdout.isatty() else "epoch")
    # The preset takes its paper's settings for the corpus in the data folder.
    config = configs.make_config(args.model, args.config_file, args.params_override,
                                 dataset=data.corpus_of(data_dir))
    if args.data:
        config.override({"data": {"data_dir": args.data}})
    runtime = {"distribution_strategy": args.strategy,
               "num_cpu_devices": args.num_cpu_devices,
               "mixed_precision": args.mixed_precision, "jit_compile": args.jit_compile}
    config.override({"runtime": {k: v for k, v in runtime.items() if v is not None}})
    configs.validate(config)
    strategy = distribute.make_strategy(config.runtime.distribution_strategy,
                                        config.runtime.num_cpu_devices)
    model, _ = train(config, model_dir, strategy, args.backup_every_steps,
                     PROGRESS[progress], args.model, argv)
    if model is not None:
        print(f"Model, logs and checkpoints in {model_dir}/ "
              f"(tensorboard --logdir {os.path.join(model_dir, 'logs')})")


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cli.run_tool(lambda: run(args, argv))


if __name__ == "__main__":
    main()
