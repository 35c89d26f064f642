"""What made a run directory (MODEL_DIR/run_record.json), and the check that a rerun of
`pipeline.train` continues that same run.

The record holds the preset, the resolved config, a fingerprint of the data (vocabulary
hash, the preprocessing manifest and split sizes), package versions, the git commit when
there is one, the command and the folder it was run from (where relative data paths
resolve). A rerun with other data or another config is refused before anything in the
directory is touched; a finished run says so and changes nothing, except that a run which
used all its planned steps may be given more epochs (`extends`) when nothing it has
learnt depends on the number of steps planned (a constant learning rate after warm-up).
"""
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from pipeline import configs
from preprocessing.constants import MANIFEST, VOCAB_FILE
from preprocessing.files import read_json, sha256, write_json_atomic

RECORD_FILE = "run_record.json"
# Options that may differ between the runs of one model_dir: where the data is read from
# (its content is compared through the fingerprint), how the same computation is spread
# over devices or compiled, and the decoding defaults (they do not touch training).
NOT_COMPARED = ("data.data_dir", "runtime.distribution_strategy", "runtime.num_cpu_devices",
                "runtime.jit_compile", "decoding.beam_size", "decoding.length_alpha",
                "decoding.temperature")


def data_fingerprint(data_dir: str) -> dict:
    """What identifies a preprocessed dataset, wherever it is stored."""
    with open(os.path.join(data_dir, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    with open(os.path.join(data_dir, "stats.json"), encoding="utf-8") as f:
        splits = json.load(f).get("splits", {})
    return {"vocab_sha256": sha256(os.path.join(data_dir, VOCAB_FILE)),
            "corpus": manifest.get("corpus"), "options": manifest.get("options"),
            "format_version": manifest.get("format_version"),
            "slices": {name: split.get("slices") for name, split in sorted(splits.items())}}


def _git_commit():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        result = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _versions():
    from importlib import metadata
    out = {"python": sys.version.split()[0]}
    for package in ("tensorflow", "keras", "tf-models-official", "dialogvae"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def make_record(preset: str, config: configs.ExperimentConfig, data_dir: str,
                argv: Sequence[str] | None = None) -> dict:
    """The run record of a new run: what it is, what it reads and what made it."""
    return {"preset": preset, "config": config.as_dict(), "data": data_fingerprint(data_dir),
            "data_dir": config.data.data_dir, "made_in": os.getcwd(),
            "command": [os.path.basename(sys.executable), "-m", "pipeline.train",
                        *(sys.argv[1:] if argv is None else argv)],
            "packages": _versions(), "git_commit": _git_commit(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "finished": None}


def load(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, RECORD_FILE)
    return read_json(path)


def save(model_dir: str, record: dict) -> None:
    """Written beside and renamed over: a kill never leaves half a record."""
    write_json_atomic(os.path.join(model_dir, RECORD_FILE), record)


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def extends(old: dict, new: dict) -> bool:
    """Whether `new` is the stored run given more epochs and nothing else: only a schedule
    that does not read the planned total (constant after warm-up) is the same up to the
    old end, so a longer cosine or linear run is another run."""
    before, after = old.get("config", {}).get("train", {}), new["config"]["train"]
    return (after.get("lr_decay") == before.get("lr_decay") == "constant"
            and (before.get("epochs") or 0) < (after.get("epochs") or 0))


def differences(old: dict, new: dict) -> list[str]:
    """['what: X there, Y now', ...] between a stored record and a new one; more epochs
    for a run whose schedule does not read its length (`extends`) are no difference."""
    found = []
    if old.get("preset") != new["preset"]:
        found.append(f"--model: {old.get('preset')} there, {new['preset']} now")
    before, after = _flatten(old.get("config", {})), _flatten(new["config"])
    growing = ("train.epochs",) if extends(old, new) else ()
    for key in sorted(set(before) | set(after)):
        if key in growing:
            continue
        if key not in NOT_COMPARED and before.get(key) != after.get(key):
            found.append(f"{key}: {before.get(key)!r} there, {after.get(key)!r} now")
    for key, value in new["data"].items():
        if old.get("data", {}).get(key) != value:
            what = "vocabulary (vocab.txt hash)" if key == "vocab_sha256" else f"data {key}"
            found.append(f"{what}: differs from the data this run was trained on")
    return found


def legacy_differences(model_dir: str, config: configs.ExperimentConfig, data_dir: str
                       ) -> list[str]:
    """For a directory made before run records: its config.yaml and vocab.txt."""
    import yaml
    found = []
    path = os.path.join(model_dir, "config.yaml")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            stored = yaml.safe_load(f) or {}
        found = differences({"preset": None, "config": stored, "data": {}},
                            {"preset": None, "config": config.as_dict(), "data": {}})
    vocab = os.path.join(model_dir, VOCAB_FILE)
    if os.path.isfile(vocab) and sha256(vocab) != sha256(os.path.join(data_dir, VOCAB_FILE)):
        found.append("vocabulary (vocab.txt hash): differs from the data this run was "
                     "trained on")
    return found


def check_continues(model_dir: str, record: dict) -> dict | None:
    """The stored record (None for a new run); raises ConfigError naming every difference
    when `model_dir` holds another run."""
    old = load(model_dir)
    if old is not None:
        found = differences(old, record)
    elif os.path.isdir(model_dir) and os.listdir(model_dir):
        found = legacy_differences(model_dir, configs_from(record), record["data_dir"])
    else:
        found = []
    if found:
        command = " ".join(old["command"]) if old else "its original command"
        raise configs.ConfigError(
            f"--model_dir {model_dir} holds another run: " + "; ".join(found) +
            f". To continue it, rerun {command}; to train with these options, give a new "
            "--model_dir.")
    return old


# What must match between a run's training data and data it is evaluated on: the ids mean
# words only through the same vocabulary, and a model is scored on the slicing it learnt.
DATA_MUST_MATCH = ("max_slice_words", "max_utterance_words")


def data_mismatch(model_dir: str, data_dir: str) -> list[str]:
    """What differs between `data_dir` and the data the run in `model_dir` was trained on
    (its vocabulary or slicing), as phrases; [] when they match."""
    record = load(model_dir)
    found = []
    if record is None:  # a run from before run records: compare its vocab.txt
        vocab = os.path.join(model_dir, VOCAB_FILE)
        if os.path.isfile(vocab) and sha256(vocab) != sha256(os.path.join(data_dir,
                                                                          VOCAB_FILE)):
            found.append("its vocabulary (vocab.txt) differs from the run's")
        return found
    trained, given = record.get("data", {}), data_fingerprint(data_dir)
    if trained.get("vocab_sha256") != given["vocab_sha256"]:
        found.append(f"its vocabulary (vocab.txt, corpus {given['corpus']!r}) differs from "
                     f"the run's (corpus {trained.get('corpus')!r})")
    for option in DATA_MUST_MATCH:
        was = (trained.get("options") or {}).get(option)
        now = (given["options"] or {}).get(option)
        if was != now:
            found.append(f"it was preprocessed with {option} {now}, the run's data with {was}")
    return found


def configs_from(record: dict) -> configs.ExperimentConfig:
    config = configs.ExperimentConfig()
    config.override(record["config"], is_strict=True)
    return config


def resolve_data_dir(model_dir: str, data_dir: str) -> str:
    """A relative data path stored by a run, resolved from where the run was made when it
    does not exist from here."""
    if os.path.isabs(data_dir) or os.path.isdir(data_dir):
        return data_dir
    record = load(model_dir)
    if record and record.get("made_in"):
        candidate = os.path.join(record["made_in"], data_dir)
        if os.path.isdir(candidate):
            return candidate
    return data_dir
