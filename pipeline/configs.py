"""Typed experiment configs (Model Garden's `hyperparams.Config`) and one preset per paper row.

A preset is changed by a YAML file and `--params_override model.word_drop=0.3,...`, in that
order, exactly as Model Garden experiments are.
"""
import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

import yaml
from official.modeling.hyperparams import base_config, params_dict

from keras_models.config import ModelConfig, option
from preprocessing.cli import ToolError, closest
from preprocessing.limits import DEFAULT_LENGTH_ALPHA, decoding_problems


def choices_of(section: str, name: str) -> tuple[str, ...]:
    """The values a field accepts (for argparse choices and the layers' own checks)."""
    config = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig,
              "runtime": RuntimeConfig, "decoding": DecodingConfig}[section]
    return next(f.metadata["choices"] for f in dataclasses.fields(config) if f.name == name)


class ConfigError(ToolError, ValueError):
    """A config value or combination the run cannot use; the message names it and the fix."""


@dataclasses.dataclass
class DataConfig(base_config.Config):
    data_dir: str = "data/dailydialog"  # the output folder of preprocessing.run
    # global batch (conversation slices), split over replicas
    batch_size: int = option(128, low=1)
    shuffle_buffer: int = option(10000, low=1)
    # slices grouped by length in words, this wide per bucket
    bucket_width: int = option(16, low=1)
    max_turns: int = option(0, low=0)  # keep at most this many utterances per slice (0 = all)


@dataclasses.dataclass
class TrainConfig(base_config.Config):
    epochs: int = option(30, low=1)
    steps_per_epoch: int = option(0, low=0)  # 0 = one pass over the training data
    validation_steps: int = option(0, low=0)  # 0 = the whole validation split
    learning_rate: float = 2e-4  # Adam's peak rate; not rescaled by the number of replicas
    warmup_steps: int = option(0, low=0)  # linear warm-up from 0 over this many steps
    # constant | cosine (to lr_final_ratio at the last step) | inverse_sqrt
    lr_decay: str = option("constant", choices=('constant', 'cosine', 'inverse_sqrt'))
    lr_final_ratio: float = option(0.1, low=0.0, high=1.0, high_included=True)
    clipnorm: float = option(1.0, low=0.0)
    early_stopping_patience: int = option(5, low=0)  # validations without a better bound
    # Early stopping is armed only from this global step on (the end of the KL ramp and of
    # scheduled sampling): before it the objective still changes, so a rising bound says
    # nothing about the optimum. 0 = armed from the start.
    early_stopping_start_step: int = option(0, low=0)
    # warn when a latent's KL per word stays below...
    collapse_kl_threshold: float = option(0.01, low=0.0)
    collapse_patience_steps: int = option(1000, low=1)  # ...for this many steps
    # validation contexts decoded to TensorBoard each epoch
    sample_responses: int = option(3, low=0)
    seed: int = 1


@dataclasses.dataclass
class RuntimeConfig(base_config.Config):
    """How a run executes; saved with it, so every tool that reloads it builds the same
    model (a mixed_float16 run has a loss-scaled optimizer whose state its checkpoints hold)."""
    distribution_strategy: str = option("default", choices=('default', 'mirrored', 'multi_worker'))
    num_cpu_devices: int = option(2, low=1)  # logical CPUs for mirrored without a GPU
    mixed_precision: str = option("none", choices=('none', 'mixed_float16', 'mixed_bfloat16'))
    jit_compile: bool = False  # XLA; made GRU training slower on CPU here, measure first


@dataclasses.dataclass
class DecodingConfig(base_config.Config):
    """Response generation defaults of evaluation, export and chat (their flags override)."""
    beam_size: int = 5
    # beam length normalisation ((5 + len) / 6) ** alpha (GNMT); 0 = plain log-probability
    length_alpha: float = DEFAULT_LENGTH_ALPHA
    temperature: float = 1.0  # sampling


@dataclasses.dataclass
class ExperimentConfig(base_config.Config):
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)


# The papers' training settings per dataset (../shared/papers/, tables.yaml `settings`).
# A row's schedules come from here, so one preset trains each dataset as its paper did.
# CO paper: batch 128, Adam 2e-4; KL annealing over 12,000 / 25,000 steps and scheduled
# sampling k = 2,500 / 5,000 (DailyDialog / Switchboard). It gives no epoch count; "KLA
# needs early stop" says training went on past the ramp, so we plan 100 epochs (17,100
# steps on DailyDialog: the ramp ends at 70% of them) and stop early on the validation bound.
# VHCR paper (the authors' code): batch 80, Adam 1e-4, 30 epochs, KL annealing over 25,000
# iterations for every latent model. DailyDialog is not a VHCR-paper corpus: 30 epochs of
# its whole conversations (the VHCR paper's data, 11,118 of them) are 4,140 steps, so the
# same 25,000-step ramp is kept and the run planned at 200 epochs (27,600 steps; 54,800 on
# 80-word slices).
PAPER_SETTINGS = {
    "co": {
        "common": {"data": {"batch_size": 128}, "train": {"learning_rate": 2e-4}},
        "dailydialog": {"kl_annealing_steps": 12000, "scheduled_sampling_steps": 2500,
                        "train": {"epochs": 100}},
        "switchboard": {"kl_annealing_steps": 25000, "scheduled_sampling_steps": 5000,
                        "train": {"epochs": 100}},
    },
    "vhcr": {
        "common": {"data": {"batch_size": 80}, "train": {"learning_rate": 1e-4}},
        "cornell": {"kl_annealing_steps": 25000, "train": {"epochs": 30}},
        "ubuntu": {"kl_annealing_steps": 25000, "train": {"epochs": 30}},
        "dailydialog": {"kl_annealing_steps": 25000, "train": {"epochs": 200}},
    },
}
PAPER_DATASETS = {"co": ("dailydialog", "switchboard"), "vhcr": ("cornell", "ubuntu")}


def paper_for(preset: "Preset", dataset: str | None = None) -> str:
    """The paper whose settings a preset trains with: its own; HRED (a row of both) takes
    the paper that used the dataset, the CO paper otherwise."""
    paper = PRESETS[preset].paper
    if paper is None:
        paper = "vhcr" if dataset in PAPER_DATASETS["vhcr"] else "co"
    return paper


def paper_overrides(paper: str, dataset: str | None, kl_annealing: bool = False,
                    scheduled_sampling: bool = False) -> dict:
    """The `paper`'s settings on `dataset` as a config override (a dataset the paper did
    not use takes the paper's first dataset's settings)."""
    table = PAPER_SETTINGS[paper]
    per_dataset = dict(table.get(dataset) or table[PAPER_DATASETS[paper][0]])
    override = {"data": dict(table["common"]["data"]),
                "train": {**table["common"]["train"], **per_dataset.pop("train", {})},
                "model": {}}
    if kl_annealing:
        override["model"]["kl_annealing_steps"] = per_dataset["kl_annealing_steps"]
    if scheduled_sampling:
        override["model"]["scheduled_sampling_steps"] = per_dataset["scheduled_sampling_steps"]
    return override


@dataclasses.dataclass(frozen=True)
class Preset:
    """One paper row, declared once: its name, its row name in the papers' tables (and
    every report and study), what it is, whose settings it trains with, the paper tables
    it is a row of, its model options, and which of its paper's schedules it takes.
    Calling it gives the config for a dataset."""
    name: str
    row: str
    description: str
    paper: Optional[str] = None  # "co" | "vhcr"; None: by dataset (HRED, a row of both)
    tables: Tuple[str, ...] = ()  # the papers whose tables list it; () = a figure row
    model: Dict[str, Any] = dataclasses.field(default_factory=dict)
    kl_annealing: bool = False  # the paper's KL annealing ramp for the dataset
    scheduled_sampling: bool = False  # the paper's scheduled-sampling k for the dataset

    def __call__(self, dataset: str | None = None, paper_override: str | None = None
                 ) -> ExperimentConfig:
        """This row's config, with its paper's settings for `dataset` (or
        `paper_override`'s paper)."""
        config = ExperimentConfig()
        config.override({"model": self.model}, is_strict=True)
        settings = paper_overrides(paper_override or paper_for(self.name, dataset), dataset,
                                   self.kl_annealing, self.scheduled_sampling)
        config.override(settings, is_strict=True)
        return config


# Decoder conditioning: every preset keeps the papers' choice, the initial state only (the
# VHCR authors' code; the CO paper does not say otherwise). `model.decoder_conditioning=
# every_step` gives Serban et al.'s VHRED, which feeds [context, z] to every step. The
# order of declaration is the order of the papers' tables.
_PRESETS = (
    Preset("hred", "HRED", "HRED, no latent variable", tables=("vhcr", "co"),
           model=dict(architecture="hred")),
    # VHCR paper (Table 1 rows); KL annealing as the authors' code, for every latent model
    Preset("vhred", "VHRED", "VHRED + KL annealing", "vhcr", ("vhcr",),
           dict(architecture="vhred"), kl_annealing=True),
    Preset("vhred_wd", "VHRED + w.d", "VHRED + KL annealing + word drop 0.25", "vhcr",
           ("vhcr",), dict(architecture="vhred", word_drop=0.25), kl_annealing=True),
    Preset("vhred_bow", "VHRED + bow", "VHRED + KL annealing + bag-of-words loss on z_utt "
           "(the VHCR authors' form)", "vhcr", ("vhcr",),
           dict(architecture="vhred", bow_loss=True, bow_input="latent"), kl_annealing=True),
    Preset("vhcr_ud", "VHCR + u.d", "VHCR + KL annealing + utterance drop 0.25 (the "
           "authors' form)", "vhcr", ("vhcr",),
           dict(architecture="vhcr", utterance_drop=0.25, utterance_drop_form="position"),
           kl_annealing=True),
    # VHCR paper figures, not table rows: VHRED + utterance drop (Fig. 4) and VHRED whose
    # decoder sees z_utt only (Eq. 13, Fig. 2)
    Preset("vhred_ud", "VHRED + u.d", "VHRED + KL annealing + utterance drop 0.25 (VHCR "
           "Fig. 4)", "vhcr", (),
           dict(architecture="vhred", utterance_drop=0.25, utterance_drop_form="position"),
           kl_annealing=True),
    Preset("vhred_zonly", "VHRED, decoder on z only", "VHRED + KL annealing, decoder "
           "conditioned on z_utt only (VHCR Fig. 2)", "vhcr", (),
           dict(architecture="vhred", decoder_context=False), kl_annealing=True),
    # CO paper baselines (Table 1 rows): VHRED with each trick
    Preset("kla", "KLA", "VHRED + KL annealing (12k / 25k steps)", "co", ("co",),
           dict(architecture="vhred"), kl_annealing=True),
    Preset("kla_do", "KLA+DO", "VHRED + KL annealing + word drop 0.25", "co", ("co",),
           dict(architecture="vhred", word_drop=0.25), kl_annealing=True),
    Preset("kla_bow", "KLA+BOW", "VHRED + KL annealing + bag-of-words", "co", ("co",),
           dict(architecture="vhred", bow_loss=True), kl_annealing=True),
    Preset("fb", "FB", "VHRED + free bits 0.01 per dimension", "co", ("co",),
           dict(architecture="vhred", free_bits_per_dim=0.01)),
    Preset("fb_all", "FB-all", "VHRED + free bits 5 on the total KL", "co", ("co",),
           dict(architecture="vhred", free_bits_total=5.0)),
    # CO paper (Table 1 rows)
    Preset("co", "CO", "Collaborative VED: AE and CVAE phases alternating by epoch", "co",
           ("co",), dict(architecture="co")),
    Preset("co_do", "CO+DO", "CO + word drop 0.25", "co", ("co",),
           dict(architecture="co", word_drop=0.25)),
    Preset("co_ss", "CO+SS", "CO + word drop 0.25 + scheduled sampling (k = 2,500 / 5,000)",
           "co", ("co",), dict(architecture="co", word_drop=0.25), scheduled_sampling=True),
    Preset("co_ss_joint", "CO+SS(joint)", "CO+SS with both phases' updates in every step",
           "co", ("co",), dict(architecture="co", word_drop=0.25, joint_phases=True),
           scheduled_sampling=True),
)
PRESETS = {p.name: p for p in _PRESETS}
# Each preset's row name, and the rows of each paper's tables in the papers' order.
ROW_NAMES = {p.name: p.row for p in _PRESETS}
TABLE_ROWS = {paper: tuple(p.name for p in _PRESETS if paper in p.tables)
              for paper in ("co", "vhcr")}


def _type_name(kind):
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        kind, getattr(kind, "__name__", str(kind)))


def validate(config: ExperimentConfig) -> ExperimentConfig:
    """Every value's type and range, and the rules between fields that need no data (the
    schedules against the planned run are `train.check_budget`'s). Raises ConfigError
    naming the option and what it accepts."""
    problems = []
    for section in ("model", "data", "train", "runtime", "decoding"):
        sub = getattr(config, section)
        for field in dataclasses.fields(sub):
            name, value = f"{section}.{field.name}", getattr(sub, field.name)
            kind = type(field.default) if field.default is not dataclasses.MISSING else list
            ok = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))
                  or kind is float and isinstance(value, int) and not isinstance(value, bool)
                  or kind is list and isinstance(value, (list, tuple)))
            if not ok:
                problems.append(f"{name}={value!r} must be {_type_name(kind)}")
                continue
            accepted = field.metadata
            if accepted.get("choices") and value not in accepted["choices"]:
                problems.append(f"{name}={value!r} must be one of "
                                f"{', '.join(accepted['choices'])}")
            low, high = accepted.get("low"), accepted.get("high")
            if low is not None or high is not None:
                below = high is None or value < high or (accepted["high_included"]
                                                         and value == high)
                if (low is not None and value < low) or not below:
                    closing = "]" if accepted["high_included"] else ")"
                    span = f">= {low}" if high is None else f"in [{low}, {high}{closing}"
                    problems.append(f"{name}={value!r} must be {span}")
    if config.model.decoder_context is False and config.model.architecture not in ("vhred",
                                                                                "vhcr"):
        problems.append(f"model.decoder_context=false needs a latent to condition on: "
                        f"architecture vhred or vhcr, not {config.model.architecture!r}")
    if config.model.bow_loss and config.model.bow_input == "latent" and \
            config.model.architecture not in ("vhred", "vhcr"):
        problems.append(f"model.bow_input=latent needs a response latent: architecture vhred "
                        f"or vhcr, not {config.model.architecture!r}")
    if config.model.architecture == "co":
        for name in ("bow_loss", "kl_annealing_steps", "free_bits_per_dim", "free_bits_total"):
            if getattr(config.model, name):
                problems.append(f"model.{name}={getattr(config.model, name)!r} is not part of "
                                "the CO objective (its KL term is max(alpha, KL)): leave it "
                                "unset, or use it with vhred or vhcr")
    d = config.decoding
    problems += decoding_problems("decoding.", d.beam_size, d.temperature,
                                  length_alpha=d.length_alpha)
    lr = config.train.learning_rate
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr <= 0:
        problems.append(f"train.learning_rate={config.train.learning_rate!r} must be > 0")
    cutoffs = config.model.softmax_cutoffs
    if isinstance(cutoffs, (list, tuple)) and (
            any(not isinstance(c, int) or c <= 0 for c in cutoffs)
            or list(cutoffs) != sorted(set(cutoffs))):
        problems.append(f"model.softmax_cutoffs={list(cutoffs)!r} must be increasing positive "
                        "vocabulary ids, e.g. [2000, 6000]")
    if problems:
        raise ConfigError("; ".join(problems) + ". Fix them in --params_override or "
                          "--config_file.")
    return config


def describe_presets() -> str:
    """One line per preset: its name and description (for --help and errors)."""
    return "\n".join(f"  {name:<10} {make.description}" for name, make in PRESETS.items())


def _split_overrides(text):
    """`a.b=1,c.d=[1,2]` -> ["a.b=1", "c.d=[1,2]"] (commas inside brackets kept)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in parts + [current] if p.strip()]


def make_config(preset: str, config_file: str | None = None,
                params_override: str | None = None, dataset: str | None = None,
                paper: str | None = None) -> ExperimentConfig:
    """Preset (with its paper's settings for `dataset`, or `paper`'s), then YAML file, then
    `a.b=1,c.d=2` overrides; unknown keys and bad values are ConfigErrors naming them."""
    if preset not in PRESETS:
        raise ConfigError(f"--model {preset!r} is not a preset{closest(preset, PRESETS)}; "
                          f"choose one of:\n"
                          f"{describe_presets()}")
    config = PRESETS[preset](dataset, paper)
    if config_file:
        if not os.path.isfile(config_file):
            raise ConfigError(f"--config_file {config_file}: no such file")
        try:
            config = params_dict.override_params_dict(config, config_file, is_strict=True)
        except (KeyError, ValueError, TypeError, yaml.YAMLError) as e:
            raise ConfigError(f"--config_file {config_file}: {e}") from None
    if params_override:
        bad = [p for p in _split_overrides(params_override) if "=" not in p]
        if bad:
            raise ConfigError(f"--params_override {bad[0]!r}: each override is KEY=VALUE, "
                              f"e.g. train.epochs=5")
        try:
            config = params_dict.override_params_dict(config, params_override, is_strict=True)
        except (KeyError, ValueError, TypeError) as e:
            raise ConfigError(f"--params_override {params_override!r}: {e}") from None
    config.validate()
    return validate(config)
