"""Test helpers: where the real corpora are, and running a Beam graph to Python lists."""
import base64
import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = os.environ.get("DIALOGVAE_DATA") or os.path.normpath(
    os.path.join(REPO_ROOT, "..", "shared", "datasets"))

# In-process runner for unit tests: fast and deterministic, no worker start-up.
IN_MEMORY_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def corpus_path(name):
    path = os.path.join(DATASETS, name)
    if not os.path.isdir(path):
        pytest.skip(f"real corpus {name!r} not found at {path} (the ../shared checkout)")
    return path


def run_and_collect(build, tmp_path):
    """Runs `build(pipeline) -> {name: PCollection}` and returns {name: [elements]}.

    Elements travel through files (pickled) so the result does not depend on the
    runner sharing memory with the test.
    """
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(IN_MEMORY_ARGS)) as p:
        outputs = build(p)
        for name, pcoll in outputs.items():
            _ = (pcoll
                 | f"Pickle{name}" >> beam.Map(
                     lambda x: base64.b64encode(pickle.dumps(x)).decode("ascii"))
                 | f"Write{name}" >> beam.io.WriteToText(str(tmp_path / f"collect-{name}")))
    results = {}
    for name in outputs:
        elements = []
        for path in sorted(tmp_path.glob(f"collect-{name}*")):
            with open(path, encoding="ascii") as f:
                elements += [pickle.loads(base64.b64decode(line)) for line in f if line.strip()]
        results[name] = elements
    return results
