"""Training callbacks beyond Keras's own: throughput, collapse warnings, latent diagnostics,
sample responses, and the step-exact stop that makes a resumed run match an uninterrupted one.

They write into the `logs` dict, so list them *before* keras.callbacks.TensorBoard and
CSVLogger, which then record the added values.
"""
import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_models.conversation_model import ConversationModel
from keras_models.decoding import DecodeOptions, decode, response_tokens
from keras_models.types import Batch
from pipeline.evaluation import likelihood
from pipeline.tables import markdown_table
from preprocessing.codec import ids_to_text
from preprocessing.files import write_text_atomic

log = logging.getLogger("dialogvae")


def global_step(model: keras.Model) -> int:
    """The model's training step as an int (also for distributed variables)."""
    counter = getattr(model, "step_counter", None)
    if counter is None:
        counter = model.optimizer.iterations
    return int(keras.ops.convert_to_numpy(counter))


def _learning_rate(optimizer):
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr(optimizer.iterations) if callable(lr) else lr))


class TrainingMonitor(keras.callbacks.Callback):
    """Adds tokens/s (real decoded tokens), learning rate and global step to the logs, at
    an epoch end also `epoch_seconds` (its wall time through validation: a study sums them
    into a run's training time, which survives resumes), and warns when a latent's KL per
    word stays below a threshold (posterior collapse)."""

    def __init__(self, kl_threshold: float = 0.01, patience_steps: int = 1000) -> None:
        super().__init__()
        self.kl_threshold = kl_threshold
        self.patience_steps = patience_steps
        self.low_kl_steps = {}
        self.warned = set()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_start = time.perf_counter()

    def _add(self, logs):
        elapsed = max(time.perf_counter() - self.epoch_start, 1e-9)
        logs["tokens_per_sec"] = float(logs.get("words", 0.0)) / elapsed
        logs["learning_rate"] = _learning_rate(self.model.optimizer)
        logs["global_step"] = global_step(self.model)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        self._add(logs)
        step = global_step(self.model)
        for name in ("kl_utt", "kl_conv"):
            if name not in logs or name[len("kl_"):] not in self.model.latent_names:
                continue
            low = float(logs[name]) < self.kl_threshold
            self.low_kl_steps[name] = self.low_kl_steps.get(name, 0) + 1 if low else 0
            if self.low_kl_steps[name] >= self.patience_steps and name not in self.warned:
                self.warned.add(name)
                log.warning("posterior collapse? %s has stayed below %g nats per word for "
                            "%d steps (step %d)", name, self.kl_threshold,
                            self.low_kl_steps[name], step)
            elif not low:
                self.warned.discard(name)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            self._add(logs)
            logs["epoch_seconds"] = time.perf_counter() - self.epoch_start


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore with crash-safe writes: the backup is written beside the
    old one and renamed over it, so a process killed while saving leaves the previous
    backup intact instead of a truncated HDF5 file that cannot be resumed from. It also
    saves at every epoch end, so a finished epoch is never replayed, and never at an
    epoch's last batch: that backup would precede the epoch end's validation, checkpoints
    and CSV row, which a run killed before them and resumed from it would never make.
    List it last, so its epoch-end save follows every other epoch-end record. Restoring
    is `pipeline.train.restore_backup`'s, before `fit`: Keras's own restore (at train
    begin, with its epoch metadata) would undo a run split over two `fit` calls."""

    PARTIAL = "partial.weights.h5"  # save_weights insists on the .weights.h5 suffix

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._should_save_on_batch(batch) and batch + 1 != self.params.get("steps"):
            self._save_model()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        partial = os.path.join(self.backup_dir, self.PARTIAL)
        self.model.save_weights(partial, overwrite=True)
        metadata = self._training_metadata_path + ".partial"
        with open(metadata, "w", encoding="utf-8") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
        os.replace(partial, self._weights_path)
        os.replace(metadata, self._training_metadata_path)


class StopAtStep(keras.callbacks.Callback):
    """Ends training at exactly `total_steps` optimizer steps, also after a resume
    (a resumed run replays the interrupted epoch's remaining batches, not all of them)."""

    def __init__(self, total_steps: int) -> None:
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if global_step(self.model) >= self.total_steps:
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.on_train_batch_end(0)


class PhaseSchedule(keras.callbacks.Callback):
    """Swaps a phased model (CO) between its per-phase train functions at phase
    boundaries. The phase follows the global step, so a run resumed mid-phase continues
    in that phase. Adds `phase` (0 AE, 1 CVAE, 2 joint) and `tokens_per_sec_<phase>` to
    the logs; list it after TrainingMonitor."""

    def __init__(self, steps_per_epoch: int) -> None:
        super().__init__()
        self.steps_per_epoch = steps_per_epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.step = global_step(self.model)
        self._switch()

    def _switch(self):
        phase = self.model.phase_at(self.step, self.steps_per_epoch)
        if phase != self.model.phase or self.model.train_function is None:
            log.info("step %d: %s phase", self.step, phase)
        self.model.set_phase(phase)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._switch()

    def _add(self, logs):
        if logs is not None and "tokens_per_sec" in logs:
            logs[f"tokens_per_sec_{self.model.phase}"] = logs["tokens_per_sec"]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        self._add(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._add(logs)


def monitor_history(csv_path: str, monitor: str, start_step: int = 0) -> list[float]:
    """The values of `monitor` in the rows a run's CSV log already holds (a resumed run),
    from global step `start_step` on."""
    if not os.path.isfile(csv_path):
        return []
    with open(csv_path, encoding="utf-8") as f:
        rows = [(row.get("global_step"), row.get(monitor)) for row in csv.DictReader(f)]
    out = []
    for step, value in rows:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if start_step and (_float(step) is None or _float(step) < start_step):
            continue
        if math.isfinite(number):
            out.append(number)
    return out


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping (mode min, patience in validations) armed only from global
    step `start_step` on (train.early_stopping_start_step: the end of the KL ramp and of
    scheduled sampling), which continues a resumed run's patience from the validation
    values already in its CSV log instead of starting afresh."""

    def __init__(self, csv_path: str, start_step: int = 0, **kwargs) -> None:
        super().__init__(mode="min", **kwargs)
        self.csv_path = csv_path
        self.start_step = start_step

    def _replay(self) -> tuple[float | None, int]:
        """(best, validations since it) over the values already in the log."""
        best, wait = None, 0
        for value in monitor_history(self.csv_path, self.monitor, self.start_step):
            best, wait = (value, 0) if best is None or value < best else (best, wait + 1)
        return best, wait

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.best, self.wait = self._replay()

    def stopped_in_log(self) -> bool:
        """Whether the logged validations already ended the run: it was killed after early
        stopping's epoch end (and its backup) but before its end was recorded."""
        best, wait = self._replay()
        return best is not None and wait >= max(self.patience, 1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if global_step(self.model) >= self.start_step:
            super().on_epoch_end(epoch, logs)


def save_weights_atomic(model: keras.Model, path: str) -> None:
    """Weights written beside `path` and renamed over it: a full disk or a kill while
    saving leaves the previous file whole, never a truncated one."""
    folder, name = os.path.split(path)
    os.makedirs(folder or ".", exist_ok=True)
    partial = os.path.join(folder, "partial-" + name)  # save_weights wants .weights.h5
    try:
        model.save_weights(partial, overwrite=True)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


class Checkpoint(keras.callbacks.Callback):
    """The weights at each validation (`best_only` false: the last ones) or at each better
    validation bound from global step `start_step` on (the optimum of the objective the
    run ends with, as early stopping's), written atomically. The best value so far comes
    from the run's CSV log, so a resumed run does not overwrite a better checkpoint."""

    def __init__(self, filepath: str, csv_path: str | None = None,
                 monitor: str = "val_nll_bound", best_only: bool = True,
                 start_step: int = 0) -> None:
        super().__init__()
        self.filepath, self.csv_path, self.monitor = filepath, csv_path, monitor
        self.best_only, self.start_step = best_only, start_step
        self.best = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        history = (monitor_history(self.csv_path, self.monitor, self.start_step)
                   if self.best_only and self.csv_path else [])
        self.best = min(history) if history else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.best_only:
            save_weights_atomic(self.model, self.filepath)
            return
        value = _float((logs or {}).get(self.monitor))
        if value is None or not math.isfinite(value) or \
                global_step(self.model) < self.start_step:
            return
        if self.best is None or value < self.best:
            self.best = value
            save_weights_atomic(self.model, self.filepath)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard with every scalar on the global-step axis. Keras's writes batch
    summaries at its own batch count (0 again after a resume), epoch summaries at the
    epoch number and evaluation summaries at the optimizer's count, and
    with an integer `update_freq` its record_if(step % freq == 0) also drops everything
    written at an epoch's end (validation scalars, diagnostics, sample responses) unless
    the step happens to be a multiple. Here every summary uses the model's global step
    (`step_counter`), and epoch-end summaries are always recorded."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._pop_writer()
        self._global_train_batch = global_step(self.model)
        self._push_writer(self._train_writer, self._global_train_batch)

    def on_test_end(self, logs: dict | None = None) -> None:
        """Keras writes `evaluation_*_vs_iterations` at the compiled optimizer's count,
        which for CO is the AE optimizer's (half the steps); here the global step."""
        with self.summary.record_if(True), self._val_writer.as_default():
            for name, value in (logs or {}).items():
                self.summary.scalar(f"evaluation_{name}_vs_iterations", value,
                                    step=global_step(self.model))
        self._pop_writer()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with self.summary.record_if(True):
            self._log_epoch_metrics(global_step(self.model), logs)


def _csv_value(value):
    """A log value as a CSV cell: a scalar count (the global step) stays an integer, other
    scalars are floats, anything else is written as it is."""
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.size != 1 or array.dtype.kind not in "fiub":
        return value
    scalar = array.reshape(-1)[0]
    return int(scalar) if array.dtype.kind in "iu" else float(scalar)


class CSVLogger(keras.callbacks.Callback):
    """One row per epoch end (validation) in `path`, the whole file rewritten beside it and
    renamed over it, so a full disk or a kill never leaves half a row or loses one on
    resume. Columns are the union of every row's keys (CO's CVAE-phase epochs report fewer
    values: they read NA, as in Keras's CSVLogger)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def read(self) -> tuple[list[str], list[dict]]:
        """(columns, rows) of the log so far."""
        if not os.path.isfile(self.path):
            return ["epoch"], []
        with open(self.path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or ["epoch"]), list(reader)

    def write(self, columns: list[str], rows: list[dict]) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, restval="NA")  # as Keras's
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.path, text.getvalue())

    def forget_after(self, step: int) -> None:
        """Drops the rows logged after global step `step`: a run killed after an epoch
        end's row but before its backup resumes from the earlier backup and logs that
        epoch end again."""
        columns, rows = self.read()
        kept = [r for r in rows if (_float(r.get("global_step")) or 0) <= step]
        if len(kept) < len(rows):
            log.info("%s: %d row(s) after step %d dropped; training makes them again",
                     self.path, len(rows) - len(kept), step)
            self.write(columns, kept)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        columns, rows = self.read()
        row = {"epoch": epoch}
        for key, value in (logs or {}).items():
            row[key] = _csv_value(value)
        self.write(columns + sorted(k for k in row if k not in columns), rows + [row])


def latent_diagnostics(model: ConversationModel, batches: Sequence[Batch]
                       ) -> dict[str, float]:
    """Active units of each latent (Burda et al.: Var_x E_q[z] > 0.01) and, for z_utt, the
    prior's E[sigma^2] / Var(mu) (VHCR Fig. 2): high means the prior ignores the context."""
    collected = {}
    for batch in batches:
        for latent, tensors in model.latent_moments(batch).items():
            for key, value in tensors.items():
                collected.setdefault(latent, {}).setdefault(key, []).append(value.numpy())
    results = {}
    for latent, tensors in collected.items():
        q_mean = np.concatenate(tensors["q_mean"])
        if len(q_mean) > 1:
            results[f"active_units_{latent}"] = float((q_mean.var(0) > 0.01).sum())
        if "p_mean" in tensors:
            p_mean = np.concatenate(tensors["p_mean"])
            p_var = np.concatenate(tensors["p_var"])
            results[f"prior_variance_ratio_{latent}"] = float(
                p_var.mean() / max(p_mean.var(0).mean(), 1e-12))
    return results


class ValidationDiagnostics(keras.callbacks.Callback):
    """At each epoch end: the context gain and latent diagnostics on validation batches
    (into the logs as val_*) and greedy sample responses to validation contexts
    (TensorBoard text)."""

    def __init__(self, dataset: tf.data.Dataset, vocab: list[str], log_dir: str,
                 max_utterance_words: int, num_batches: int = 4, num_samples: int = 3) -> None:
        """`max_utterance_words`: the training data's word cap, which samples keep to."""
        super().__init__()
        self.batches = list(dataset.take(num_batches))
        self.vocab = vocab
        self.options = DecodeOptions(response_tokens(max_utterance_words))
        self.num_samples = num_samples
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and self.batches:
            logs["val_context_gain"] = likelihood.context_gain(self.model,
                                                               self.batches)["context_gain"]
        if self.model.latent_names and logs is not None:
            for key, value in latent_diagnostics(self.model, self.batches).items():
                logs[f"val_{key}"] = value
        if self.num_samples and self.batches and self.writer is not None:
            self.write_samples(epoch)

    def write_samples(self, epoch: int) -> None:
        utterances = self.batches[0]["utterances"][: self.num_samples]
        turns = tf.reduce_sum(tf.cast(utterances[:, :, 0] != 0, tf.int32), 1)
        rows = []
        for i in range(int(tf.shape(utterances)[0])):
            n = int(turns[i])
            context = utterances[i:i + 1, : n - 1]
            response = decode(self.model, self.model.response_condition(context),
                              self.options)[0][0, 0]
            rows.append([" / ".join(ids_to_text(u, self.vocab) for u in context[0]),
                         ids_to_text(utterances[i, n - 1], self.vocab),
                         ids_to_text(response, self.vocab)])
        table = "\n".join(markdown_table(("context", "gold", "greedy response"), rows, "lll"))
        with self.writer.as_default(), tf.summary.record_if(True):
            tf.summary.text("sample_responses", table, step=global_step(self.model))
        self.writer.flush()
