"""tf.distribute: the same update on 2 logical CPUs as on 1 device; multi-worker runs."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # mirrored replicas and two worker processes


def run_module(*args, env=None):
    """A tool in a fresh process; pytest-timeout bounds it, not a clock of its own (a
    loaded machine runs slower)."""
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("architecture", ["hred", "vhcr"])
def test_mirrored_two_replicas_equal_one_device(small_data, architecture):
    result = run_module("tests.scripts.mirrored_step", small_data, architecture)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert out["max_update"] > 1e-3  # the step really moved the weights
    assert out["max_difference"] < 1e-5 * max(1.0, out["max_update"] * 100)
    assert out["loss_mirrored"] == pytest.approx(out["loss_single"], rel=1e-5)
    assert out["nll_mirrored"] == pytest.approx(out["nll_single"], rel=1e-5)


def free_ports(n):
    import socket
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_train_with_multi_worker_mirrored(small_data, tmp_path):
    from tests.helpers import TINY_OVERRIDE
    cluster = [f"127.0.0.1:{p}" for p in free_ports(2)]
    override = (TINY_OVERRIDE + ",data.batch_size=8,data.shuffle_buffer=50,train.epochs=1,"
                "train.steps_per_epoch=3,train.validation_steps=2,train.sample_responses=0")
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "pipeline.train", "--model", "vhcr_ud", "--data", small_data,
             "--model_dir", str(tmp_path / f"worker{index}"), "--strategy", "multi_worker",
             "--params_override", override, "--progress", "epoch"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate()[0])  # pytest-timeout bounds it
    finally:
        for worker in workers:
            worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
        assert "3/3" in output and "val_nll_bound" in output
    # Metrics are synchronised across the workers: both print the same epoch line.
    def metrics(output):
        line = next(x for x in output.splitlines() if x.startswith("3/3"))
        fields = dict(f.split(": ", 1) for f in line.split(" - ") if ": " in f)
        return {k: fields[k] for k in ("loss", "nll", "kl_utt", "kl_conv", "val_nll_bound")}
    assert metrics(outputs[0]) == metrics(outputs[1])
