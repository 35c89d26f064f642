"""The file helpers: atomic JSON and the lock that keeps two processes out of one folder."""
import os
import subprocess
import sys

import pytest

from preprocessing import files
from tests.helpers import REPO_ROOT

HOLD = """
import sys, time
from preprocessing import files
with files.exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_held_by_another_process_is_refused_and_dies_with_it(tmp_path):
    path = str(tmp_path / "x.lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE,
                              text=True, cwd=REPO_ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(files.Locked, match=f"pid {holder.pid} on "):
            with files.exclusive_lock(path):
                pass
    finally:
        holder.kill()  # killed, not released: the kernel drops the lock
        holder.wait()
    with files.exclusive_lock(path):
        assert open(path).read().startswith(f"pid {os.getpid()} on ")


def test_a_lock_is_held_once_per_process_and_released_after_the_block(tmp_path):
    path = str(tmp_path / "x.lock")
    with files.exclusive_lock(path):
        with pytest.raises(files.Locked):  # a second open of the file is another holder
            with files.exclusive_lock(path):
                pass
    with files.exclusive_lock(path):
        pass


def test_json_is_replaced_whole(tmp_path):
    path = str(tmp_path / "state.json")
    files.write_json_atomic(path, {"a": 1})
    files.write_json_atomic(path, {"b": 2})
    assert files.read_json(path) == {"b": 2}
    assert os.listdir(tmp_path) == ["state.json"]  # no .partial left behind
    assert files.read_json(str(tmp_path / "missing.json")) is None
