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


TINY_MODEL = {"embedding_dim": 16, "utterance_units": 16, "context_units": 24,
              "decoder_units": 16, "latent_dim": 8, "conv_latent_dim": 8, "mlp_units": 16,
              "kl_annealing_steps": 0}  # a few-step run fits no paper schedule
TINY_OVERRIDE = ",".join(f"model.{k}={v}" for k, v in TINY_MODEL.items())


def small_raw_dailydialog(folder, root=None, per_split=(300, 40, 40)):
    """The first dialogues of each real DailyDialog split, as raw files under folder/raw."""
    root = root or corpus_path("dailydialog")
    raw = folder / "raw"
    for split, n in zip(("train", "validation", "test"), per_split):
        (raw / split).mkdir(parents=True)
        with open(os.path.join(root, split, f"dialogues_{split}.txt"), encoding="utf-8") as f:
            lines = [next(f) for _ in range(n)]
        (raw / split / f"dialogues_{split}.txt").write_text("".join(lines), encoding="utf-8")
    return str(raw)


def make_small_dailydialog(root, folder, per_split=(300, 40, 40)):
    """The first dialogues of each real DailyDialog split, preprocessed (in-process)."""
    from preprocessing import run
    raw = small_raw_dailydialog(folder, root, per_split)
    out = str(folder / "data")
    run.run(["--corpus", "dailydialog", "--input", str(raw), "--output", out, *IN_MEMORY_ARGS])
    return out
