"""Test helpers: where the real corpora are, and running a Beam graph to Python lists."""
import base64
import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

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


def beam_test_pipeline():
    """Beam's TestPipeline on the in-process runner (the default DirectRunner would first
    try to download the Prism runner)."""
    return TestPipeline(runner=FnApiRunner(), options=PipelineOptions(IN_MEMORY_ARGS))


def run_and_collect(build, tmp_path):
    """Runs `build(pipeline) -> {name: PCollection}` in a TestPipeline and returns
    {name: [elements]}, for tests whose checks span whole outputs (a reader's every
    dialogue). Elements travel through files (pickled): the runner pickles its DoFns, so
    a matcher could not hand them back through memory. Checks that fit a matcher use
    `assert_that` directly (tests/preprocessing/test_transforms.py)."""
    with beam_test_pipeline() as p:
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


def tiny_model(preset, batch, vocab_size, learning_rate=1e-2, clipnorm=0.0, **model):
    """A tiny `preset` model (TINY_MODEL sizes, then `model` overrides) built and compiled
    by the one factory, `compile_model`, as training builds it: FusedAdam at a constant
    `learning_rate` (CO: both optimizers), `clipnorm` 0 for none. Call inside a
    strategy's scope for a distributed one."""
    from pipeline import configs
    from pipeline.training.factory import compile_model
    config = configs.make_config(preset)
    config.override({"model": {**TINY_MODEL, **model},
                     "train": {"learning_rate": learning_rate, "warmup_steps": 0,
                               "lr_decay": "constant", "clipnorm": clipnorm}})
    return compile_model(config, vocab_size, batch)


TINY_OVERRIDE = ",".join(f"model.{k}={v}" for k, v in TINY_MODEL.items())


# A synthetic DailyDialog-format corpus for tests that need data but not the real corpus:
# templated small talk (questions, answers, follow-ups) over a few hundred words.
_PLACES = ("the city", "a small town", "the north", "paris", "the village", "london")
_JOBS = ("a teacher", "a doctor", "an engineer", "a student", "a cook", "a driver")
_THINGS = ("music", "football", "books", "movies", "cooking", "travel", "the beach")
_TEMPLATES = (
    ("Hi , how are you ?", "I'm fine , thanks . And you ?", "Not bad . What's new ?"),
    ("Where do you live ?", "I live in {place} .", "Do you like it there ?",
     "Yes , it is very nice ."),
    ("What do you do for a living ?", "I'm {job} .", "Do you like your job ?",
     "It is hard work , but I like it ."),
    ("Do you like {thing} ?", "Yes , I love {thing} !", "Me too . Let's talk about it ."),
    ("Can I help you ?", "I'm looking for a gift .", "How about {thing} ?",
     "Good idea , thank you ."),
    ("Excuse me , where is the station ?", "It is near {place} .", "Thanks a lot .",
     "You're welcome ."),
)


def synthetic_dialogue(rng):
    """One dialogue line in DailyDialog's format ('turn __eou__ turn __eou__ ...')."""
    template = rng.choice(_TEMPLATES)
    turns = template[:rng.randint(2, len(template))]
    fill = {"place": rng.choice(_PLACES), "job": rng.choice(_JOBS),
            "thing": rng.choice(_THINGS)}
    return " __eou__ ".join(t.format(**fill) for t in turns) + " __eou__\n"


def small_raw_dailydialog(folder, root=None, per_split=(300, 40, 40)):
    """Raw DailyDialog-format files under folder/raw: the first dialogues of each real
    split when `root` (the corpus) is given, else synthetic ones."""
    import random
    rng = random.Random(0)
    raw = folder / "raw"
    for split, n in zip(("train", "validation", "test"), per_split):
        (raw / split).mkdir(parents=True)
        if root:
            with open(os.path.join(root, split, f"dialogues_{split}.txt"),
                      encoding="utf-8") as f:
                lines = [next(f) for _ in range(n)]
        else:
            lines = [synthetic_dialogue(rng) for _ in range(n)]
        (raw / split / f"dialogues_{split}.txt").write_text("".join(lines), encoding="utf-8")
    return str(raw)


def real_or_synthetic_root(name="dailydialog"):
    """The real corpus folder when ../shared has it, else None (synthetic data)."""
    path = os.path.join(DATASETS, name)
    return path if os.path.isdir(path) else None


def make_small_dailydialog(root, folder, per_split=(300, 40, 40), options=()):
    """Each split's first dialogues (real, or synthetic without `root`), preprocessed
    in-process with the preprocessing `options` (e.g. --max_slice_words 0)."""
    from preprocessing import run
    raw = small_raw_dailydialog(folder, root, per_split)
    out = str(folder / "data")
    run.run(["--corpus", "dailydialog", "--input", str(raw), "--output", out, *options,
             *IN_MEMORY_ARGS])
    return out


# The one decoding call (keras_models.decoding.decode) in the forms the tests read best:
# a context [B, T, L] (or a ready `condition`) in, ids out. 31 tokens: 30 words + </s>.
def _condition(model, context, condition):
    return model.response_condition(context) if condition is None else condition


def decode_greedy(model, context, max_length=31, condition=None, with_scores=False):
    """ids [B, <= max_length] (and each response's log-probability)."""
    from keras_models.decoding import DecodeOptions, decode
    ids, scores = decode(model, _condition(model, context, condition),
                         DecodeOptions(max_length))
    return (ids[:, 0], scores[:, 0]) if with_scores else ids[:, 0]


def decode_sample(model, context, temperature=1.0, max_length=31, condition=None, seed=None,
                  with_scores=False):
    """Like decode_greedy, drawn at `temperature`; `seed` (an int) fixes the draws."""
    from keras_models.decoding import DecodeOptions, decode
    ids, scores = decode(model, _condition(model, context, condition),
                         DecodeOptions(max_length, "sample", temperature=temperature),
                         None if seed is None else [seed, 0])
    return (ids[:, 0], scores[:, 0]) if with_scores else ids[:, 0]


def decode_beam(model, context, beam_size=5, max_length=31, alpha=0.6, condition=None):
    """(ids [B, beam_size, <= max_length], scores [B, beam_size]), best first."""
    from keras_models.decoding import DecodeOptions, decode
    return decode(model, _condition(model, context, condition),
                  DecodeOptions(max_length, "beam", beam_size, alpha))
