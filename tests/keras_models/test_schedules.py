"""Learning-rate schedules and the checks of schedules against the planned run."""
import numpy as np
import pytest

from keras_models.schedules import WarmupDecay
from pipeline import configs, data, train
from pipeline.training import budget, factory
from tests.helpers import TINY_MODEL


def rates(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_warmup_then_each_decay():
    constant = WarmupDecay(1e-3, warmup_steps=10, total_steps=100)
    np.testing.assert_allclose(rates(constant, [0, 4, 9, 50, 99]),
                               [1e-4, 5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-5)
    cosine = WarmupDecay(1e-3, 10, 110, "cosine", final_ratio=0.1)
    np.testing.assert_allclose(rates(cosine, [9, 60, 110, 500]),
                               [1e-3, 5.5e-4, 1e-4, 1e-4], rtol=1e-4)
    inverse = WarmupDecay(1e-3, 100, 0, "inverse_sqrt")
    np.testing.assert_allclose(rates(inverse, [99, 399]), [1e-3, 5e-4], rtol=1e-4)


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=0.0", "learning_rate=0.0 must be > 0"),
    ("train.lr_decay=linear", "lr_decay='linear' must be one of"),
    ("train.lr_final_ratio=1.5", r"lr_final_ratio=1.5 must be in \[0.0, 1.0\]"),
])
def test_bad_schedules_are_refused_by_the_config(override, message):
    with pytest.raises(configs.ConfigError, match=message):
        configs.make_config("hred", params_override=override)


def test_a_cosine_decay_needs_steps_after_its_warmup():
    config = configs.make_config("hred", params_override="train.warmup_steps=50,"
                                                         "train.lr_decay=cosine")
    with pytest.raises(configs.ConfigError, match="cosine needs more planned steps"):
        factory.learning_rate(config, total_steps=50)


def test_negative_learning_rate_is_a_config_error():
    with pytest.raises(configs.ConfigError, match=r"train.learning_rate=-0.1 must be > 0"):
        configs.make_config("hred", params_override="train.learning_rate=-0.1")
    config = configs.make_config("hred")
    config.override({"train": {"learning_rate": -0.1}})  # built in code, not by make_config
    with pytest.raises(configs.ConfigError, match=r"train.learning_rate=-0.1 must be > 0"):
        factory.learning_rate(config, total_steps=100)


def test_schedules_longer_than_the_budget_are_refused_with_the_numbers():
    kla = configs.make_config("kla", params_override="train.epochs=30")
    with pytest.raises(configs.ConfigError, match=r"kl_annealing_steps=12000 .* 5130 planned"
                                                  r" steps .* end at 0\.43"):
        budget.check_budget(kla, 30 * 171)
    budget.check_budget(kla, 12000)  # fits exactly
    co_ss = configs.make_config("co_ss", params_override="train.epochs=4")
    # Alternating AE/CVAE epochs of 250 steps: AE epochs 1 and 3 give 500 AE steps.
    assert budget._ae_steps(co_ss, 1000) == 500
    with pytest.raises(configs.ConfigError, match="scheduled_sampling_steps=2500 .* 500 "
                                                  "AE-phase steps"):
        budget.check_budget(co_ss, 1000)
    joint = configs.make_config("co_ss_joint", params_override="train.epochs=4")
    budget.check_budget(joint, 2500)  # both phases every step: all 2,500 count


def test_cli_refuses_a_bad_schedule_before_writing_anything(small_data, tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "kla", "--data", small_data, "--model_dir", str(run),
                    "--params_override", "train.epochs=2,train.steps_per_epoch=5"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "kl_annealing_steps=12000" in err and "10 planned steps" in err
    assert not run.exists()


def test_both_co_optimizers_run_the_schedule_on_the_global_step(small_data):
    # A cosine schedule on each optimizer's own count would stop half way in an
    # alternating run; both must read the global step, as every baseline's does.
    config = configs.make_config("co_ss")
    config.override({"model": TINY_MODEL, "train": {"learning_rate": 1e-3,
                                                     "warmup_steps": 10,
                                                     "lr_decay": "cosine"}})
    batch = next(iter(data.make_dataset(small_data, "train", 8, training=False)))
    model = factory.compile_model(config, len(data.load_vocabulary(small_data)), batch,
                                  total_steps=100)
    baseline = factory.learning_rate(config, 100)
    for step in (0, 5, 50, 99):
        model.global_step.assign(step)
        expected = float(baseline(step))
        assert float(model.optimizer.learning_rate) == pytest.approx(expected, rel=1e-5)
        assert float(model.cvae_optimizer.learning_rate) == pytest.approx(expected, rel=1e-5)
    assert int(model.optimizer.iterations) == int(model.cvae_optimizer.iterations) == 0
