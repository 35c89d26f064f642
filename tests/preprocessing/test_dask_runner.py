"""The preprocessing job on a real distributed engine started here: Beam's Dask runner
(with preprocessing/dask_runner.py's fixes) on a dask.distributed LocalCluster of worker
processes gives the same vocabulary, statistics, rejections and examples as the default
runner."""
import glob
import json
import os

import pytest
import tensorflow as tf

from preprocessing import run
from tests.helpers import IN_MEMORY_ARGS

pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")


def write_corpus(path, dialogues=120):
    lines = []
    for i in range(dialogues):
        turns = [f"hello number {i % 7} , how are you ?", f"fine {i % 5} thanks .",
                 f"see you at {i % 11} ."][: 2 + i % 2]
        lines.append(json.dumps({"id": f"d{i}", "turns": turns}))
    lines.insert(5, "not json")  # a rejected record, with its file:line
    lines.insert(9, json.dumps({"id": "short", "turns": ["only one"]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def outputs(folder):
    """Everything a run writes, in a runner-independent form."""
    examples = {}
    for split in ("train", "validation", "test"):
        files = sorted(glob.glob(os.path.join(folder, split, "*.tfrecord")))
        # (re-serialised deterministically: protobuf map order differs between processes)
        examples[split] = sorted(
            tf.train.SequenceExample.FromString(r.numpy()).SerializeToString(deterministic=True)
            for r in tf.data.TFRecordDataset(files))
    stats = json.load(open(os.path.join(folder, "stats.json")))
    rejected = sorted(line for path in glob.glob(os.path.join(folder, "rejected-*.jsonl"))
                      for line in open(path, encoding="utf-8"))
    return open(os.path.join(folder, "vocab.txt")).read(), stats, rejected, examples


@pytest.mark.slow
def test_dask_local_cluster_matches_the_default_runner(tmp_path):
    from distributed import LocalCluster
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    common = ["--corpus", "jsonl", "--input", str(corpus), "--split", "8:1:1"]
    run.run([*common, "--output", str(tmp_path / "default"), *IN_MEMORY_ARGS])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        stats = run.run([*common, "--output", str(tmp_path / "dask"), "--runner", "DaskRunner",
                         f"--dask_client_address={cluster.scheduler_address}"])
    assert stats["input_records"] == 122 and stats["rejected_records"] == 2
    default, dask = outputs(str(tmp_path / "default")), outputs(str(tmp_path / "dask"))
    assert dask[0] == default[0]  # vocabulary
    assert dask[1] == default[1]  # statistics
    assert dask[2] == default[2] and len(dask[2]) == 2  # rejections
    assert dask[3] == default[3] and sum(map(len, dask[3].values())) > 100  # examples
