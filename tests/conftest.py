import os

import pytest

# Keep TensorFlow's start-up chatter out of test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A small real slice of DailyDialog, preprocessed once per test session."""
    from tests.helpers import corpus_path, make_small_dailydialog
    return make_small_dailydialog(corpus_path("dailydialog"), tmp_path_factory.mktemp("small"))
