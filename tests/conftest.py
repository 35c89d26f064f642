import os

import pytest

# Keep TensorFlow's start-up chatter out of test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A small slice of DailyDialog (synthetic DailyDialog-format dialogues where
    ../shared/datasets is absent), preprocessed once per test session."""
    from tests.helpers import make_small_dailydialog, real_or_synthetic_root
    return make_small_dailydialog(real_or_synthetic_root(), tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="session")
def small_dialogues(tmp_path_factory):
    """The same dialogues kept whole (--max_slice_words 0), as VHCR studies train on."""
    from tests.helpers import make_small_dailydialog, real_or_synthetic_root
    return make_small_dailydialog(real_or_synthetic_root(), tmp_path_factory.mktemp("whole"),
                                  options=["--max_slice_words", "0"])


@pytest.fixture(scope="session")
def trained_runs(small_data, tmp_path_factory):
    """Tiny HRED, VHCR and CO+SS models trained a few steps each by `pipeline.train`."""
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT, TINY_OVERRIDE
    root = tmp_path_factory.mktemp("runs")
    override = (TINY_OVERRIDE + ",data.batch_size=8,data.shuffle_buffer=50,train.epochs=1,"
                "train.steps_per_epoch=3,train.validation_steps=1,train.sample_responses=0,"
                # co_ss: scheduled sampling within the run's 3 steps (longer is refused)
                "model.scheduled_sampling_steps=3")
    for preset in ("hred", "vhcr_ud", "co_ss"):
        result = subprocess.run(
            [sys.executable, "-m", "pipeline.train", "--model", preset, "--data", small_data,
             "--model_dir", str(root / preset), "--params_override", override,
             "--progress", "none"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
    return root

