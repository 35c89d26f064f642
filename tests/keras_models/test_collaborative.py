"""Collaborative VED: phase alternation, scheduled sampling, joint training, resume, CLI."""
import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_models.collaborative import AE, CVAE
from pipeline import configs, data
from pipeline.training import callbacks
from tests.helpers import REPO_ROOT, TINY_OVERRIDE, tiny_model

pytestmark = pytest.mark.slow  # trains CO models, in process and by pipeline.train


def make(small_data, preset="co_ss", **overrides):
    batch = next(iter(data.make_dataset(small_data, "train", 8, training=False)))
    return tiny_model(preset, batch, len(data.load_vocabulary(small_data)),
                      **overrides), batch


def stream(small_data):
    return data.make_dataset(small_data, "train", 8, training=True, shuffle_buffer=50)


def test_co_rows_are_presets():
    co_ss = configs.make_config("co_ss").model
    assert (co_ss.architecture, co_ss.scheduled_sampling_steps, co_ss.co_alpha,
            co_ss.word_drop, co_ss.joint_phases) == ("co", 2500, 5.0, 0.25, False)
    assert configs.make_config("co").model.scheduled_sampling_steps == 0
    assert configs.make_config("co_do").model.word_drop == 0.25
    assert configs.make_config("co_ss_joint").model.joint_phases
    with pytest.raises(configs.ConfigError, match="bow_loss"):  # refused before a model
        configs.make_config("co_ss", params_override="model.bow_loss=true")


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_each_phase_moves_only_its_parameters(small_data, strategy):
    result = subprocess.run([sys.executable, "-m", "tests.scripts.co_phases", small_data, strategy,
                             "co_ss"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == (2 if strategy == "mirrored" else 1)
    assert [e["phase"] for e in out["epochs"]] == [AE, CVAE, AE]
    assert [e["logged_phase"] for e in out["epochs"]] == [0.0, 1.0, 0.0]
    for epoch in out["epochs"]:
        moving, frozen = ("theta", "phi") if epoch["phase"] == AE else ("phi", "theta")
        assert epoch[moving] > 1e-3 and epoch[frozen] == 0.0, epoch
    assert out["traces"] == {AE: 1, CVAE: 1}  # one compiled function per phase
    assert (out["global_step"], out["ae_steps"], out["cvae_steps"]) == (6, 4, 2)


class EveryStep(keras.callbacks.Callback):
    """How far each parameter set moved in each step."""

    def __init__(self):
        super().__init__()
        self.moves = []

    def _take(self):
        return [[v.numpy().copy() for v in vs] for vs in (self.model.ae_variables(),
                                                          self.model.cvae_variables())]

    def on_train_batch_begin(self, batch, logs=None):
        self.before = self._take()

    def on_train_batch_end(self, batch, logs=None):
        self.moves.append([max(float(np.abs(a - b).max()) for a, b in zip(after, before))
                           for after, before in zip(self._take(), self.before)])


def test_joint_moves_both_parameter_sets_every_step(small_data):
    model, _ = make(small_data, "co_ss_joint")
    steps = EveryStep()
    history = model.fit(stream(small_data), epochs=2, steps_per_epoch=2, verbose=0,
                        callbacks=[callbacks.PhaseSchedule(2), steps]).history
    assert len(steps.moves) == 4
    assert all(theta > 1e-3 and phi > 1e-3 for theta, phi in steps.moves)
    assert history["phase"] == [2.0, 2.0]
    assert int(model.optimizer.iterations) == int(model.cvae_optimizer.iterations) == 4


def test_keep_rate_follows_the_schedule_of_ae_steps(small_data):
    model, _ = make(small_data, scheduled_sampling_steps=100)
    for step, expected in ((0, 1.0), (25, 0.75), (100, 0.0), (400, 0.0)):
        model.optimizer.iterations.assign(step)
        assert float(model.keep_rate()) == pytest.approx(expected)
    plain, _ = make(small_data, "co")  # no scheduled sampling: always the CVAE output
    assert float(plain.keep_rate()) == 0.0


def reconstruction(model, batch):
    """(NLL as the AE phase computes it, its gradient wrt the generator)."""
    with tf.GradientTape() as tape:
        nll = model.co_terms(batch, AE, training=True)["nll"]
    return nll, tape.gradient(nll, model.generator.trainable_variables)


def test_keep_rate_one_feeds_z_tilde_and_zero_feeds_the_cvae_output(small_data):
    model, batch = make(small_data, word_drop=0.0, scheduled_sampling_steps=1000)
    nll, grads = reconstruction(model, batch)  # i = 0: p = 1
    encoded = model.encode_context(batch)
    z_tilde = model.target_encoder(encoded["target_vectors"])
    direct = model.decode_terms(model.condition(encoded["context"], z_tilde),
                                encoded["targets"])["nll"]
    assert float(nll) == pytest.approx(float(direct), rel=1e-6)
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0 for g in grads)  # no g(e)
    model.optimizer.iterations.assign(1000)  # p = 0
    nll, grads = reconstruction(model, batch)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_phase_step_counter_and_both_optimizers_survive_a_restore(small_data, tmp_path):
    model, _ = make(small_data)
    model.fit(stream(small_data), epochs=2, steps_per_epoch=2, verbose=0,
              callbacks=[callbacks.PhaseSchedule(2)])
    model.fit(stream(small_data), epochs=3, initial_epoch=2, steps_per_epoch=1, verbose=0,
              callbacks=[callbacks.PhaseSchedule(2)])  # stops 1 step into an AE phase
    path = str(tmp_path / "mid_phase.weights.h5")
    model.save_weights(path)
    restored, _ = make(small_data)
    restored.load_weights(path)
    assert callbacks.global_step(restored) == 5
    assert restored.phase_at(5, 2) == AE and restored.phase_at(6, 2) == CVAE
    assert int(restored.optimizer.iterations) == 3  # the scheduled-sampling step i
    assert int(restored.cvae_optimizer.iterations) == 2
    for a, b in zip(model.cvae_optimizer.variables + model.optimizer.variables,
                    restored.cvae_optimizer.variables + restored.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))


def test_evaluation_reports_the_bound_and_generation_decodes(small_data):
    from tests.helpers import decode_greedy
    model, batch = make(small_data)
    logs = model.evaluate(data.make_dataset(small_data, "validation", 8, training=False),
                          steps=2, verbose=0, return_dict=True)
    assert logs["nll_bound"] == pytest.approx(logs["nll"] + logs["kl_utt"], rel=1e-5)
    assert logs["kl_response"] > 0 and logs["gen_error"] > 0
    response = decode_greedy(model, batch["utterances"][:2, :2], max_length=5)
    assert response.shape[0] == 2


def run_train(small_data, model_dir, epochs, cwd=REPO_ROOT):
    override = (TINY_OVERRIDE + ",data.batch_size=8,data.shuffle_buffer=50,"
                f"train.epochs={epochs},train.steps_per_epoch=3,train.validation_steps=2,"
                "train.sample_responses=1,model.scheduled_sampling_steps=3")
    return subprocess.run(
        [sys.executable, "-m", "pipeline.train", "--model", "co_ss", "--data", small_data,
         "--model_dir", model_dir, "--params_override", override, "--progress", "epoch",
         "--backup_every_steps", "3"], cwd=cwd, capture_output=True, text=True)


def test_train_co_ss_end_to_end_then_a_rerun_changes_nothing(small_data, tmp_path):
    model_dir = str(tmp_path / "co_ss")
    first = run_train(small_data, model_dir, epochs=3)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("config.yaml", "checkpoints/best.weights.h5", "backup/latest.weights.h5"):
        assert os.path.isfile(os.path.join(model_dir, name)), name
    events = [f for _, _, fs in os.walk(os.path.join(model_dir, "logs")) for f in fs]
    assert any(f.startswith("events.out.tfevents") for f in events)
    with open(os.path.join(model_dir, "training_log.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["phase"]) for r in rows] == [0.0, 1.0, 0.0]
    assert [r["global_step"] for r in rows] == ["3", "6", "9"]
    assert rows[1]["nll"] == "NA" and float(rows[1]["cvae_loss"]) > 0  # CVAE: no decoding
    assert float(rows[0]["tokens_per_sec_ae"]) > 0 and float(rows[1]["tokens_per_sec_cvae"]) > 0
    assert all(float(r["val_nll_bound"]) > 0 for r in rows)

    stamps = {name: os.stat(os.path.join(model_dir, name)).st_mtime_ns
              for name in ("training_log.csv", "checkpoints/last.weights.h5",
                           "backup/latest.weights.h5", "config.yaml")}
    again = run_train(small_data, model_dir, epochs=3)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is finished (all planned steps at step 9 of 9)" in again.stdout
    assert {name: os.stat(os.path.join(model_dir, name)).st_mtime_ns
            for name in stamps} == stamps


def test_headline_command_without_data_says_how_to_create_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline.train", "--model", "co_ss"],
                            cwd=tmp_path, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert result.returncode == 2
    assert "data/dailydialog" in result.stderr
    assert "python -m preprocessing.run" in result.stderr
