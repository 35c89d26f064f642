"""Reproduce one table of a paper: train every row on one dataset with one budget,
evaluate each, and write the findings to results/NAME/.

    python -m pipeline.study co_dailydialog --scale small
    python -m pipeline.study vhcr_dailydialog --scale small --data data/dailydialog_dialogues
    python -m pipeline.study vhcr_cornell --scale paper   # a GPU's work (data/cornell_dialogues)

Each row is trained by `pipeline.train` with its preset and the paper's settings for the
dataset (`configs.PAPER_SETTINGS`), then evaluated by `pipeline.evaluate`; CO studies also
draw the CO Figure 3 latent clouds (`pipeline.latent embedding`). `--scale small` is the
converged reduced scale (`ReducedScale`): every row trains to its own validation optimum
(early stopping armed once its KL ramp and scheduled sampling have ended) under a step
cap, and a row that reaches the cap is reported "not converged". `--seeds` trains rows
several times; a claim is held only if it holds on the seeds' mean and on most seeds.
The study writes `results/NAME/README.md` (the paper's tables beside ours, the training
curves and each of the paper's qualitative claims marked held / not held / not
measurable), `results.json` (every number) and PNG figures. Models, logs and checkpoints
stay in `--runs_dir` (runs/study/NAME/PRESET/seedN): never in results/.

Rerunning the same command resumes: finished rows are skipped, an interrupted row resumes
from its last backup. A study is refused when rerun with another scale or budget, except
that a seed which reached an older, lower step cap trains further to the current one
(from its run folder's last backup where it has one).

Several processes may run one study at once (one per core, or per machine sharing the
folders), with the same rows or different `--rows`: each seed is claimed by the process
that trains it (RUNS_DIR/PRESET/seedN/claim.lock) and skipped by the others, and
study.json is merged under RUNS_DIR/state.lock, so no process loses another's progress.
The README covers every row of the study with a finished seed, whichever process wrote it.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import yaml

from pipeline import configs, data
from pipeline.studies import report as study_report
from pipeline.studies.seeds import seed_dir
from pipeline.training.run_record import RECORD_FILE
from preprocessing import files
from preprocessing.constants import CO_SLICE_WORDS
from preprocessing.files import read_json, write_json_atomic

log = logging.getLogger("dialogvae")
STATE_FILE = "study.json"
STATE_LOCK = "state.lock"  # in the runs folder: held while study.json or the README is written
CLAIM_FILE = "claim.lock"  # in a seed's run folder: held by the process working on the seed


@dataclasses.dataclass(frozen=True)
class Study:
    paper: str  # "co" | "vhcr": whose settings, tables and claims
    dataset: str
    rows: tuple  # presets, in the paper table's order
    figure_rows: tuple = ()  # presets trained for a figure of the paper, not a table row
    kl_rows: tuple = ()  # rows whose claims are about a KL: trained with several seeds

    @property
    def all_rows(self) -> tuple[str, ...]:
        return self.rows + self.figure_rows

    @property
    def max_slice_words(self) -> int:
        """The data the paper trains on: CO cuts dialogues into 80-word slices, VHCR keeps
        each conversation whole (z_conv is a latent of the whole conversation)."""
        return CO_SLICE_WORDS if self.paper == "co" else 0

    @property
    def default_data_dir(self) -> str:
        return os.path.join("data", self.dataset if self.paper == "co"
                            else f"{self.dataset}_dialogues")

    @property
    def small_batch(self) -> int:
        """--scale small's batch: 64 80-word slices, or 32 whole conversations (DailyDialog
        averages 7.8 utterances, 100 words, per dialogue), about 3,300 words either way."""
        return SMALL_BATCH if self.paper == "co" else SMALL_BATCH // 2

    def seeds_of(self, preset: str, seeds: int | str) -> int:
        """How many seeds a row trains with: `seeds` an int for every row, or "auto": 2
        for the rows whose claims are about a KL (collapse looked bistable), 1 elsewhere."""
        if seeds == "auto":
            return 2 if preset in self.kl_rows else 1
        return int(seeds)


CO_STUDY_ROWS = configs.TABLE_ROWS["co"]
VHCR_STUDY_ROWS = configs.TABLE_ROWS["vhcr"]
# VHCR's figure rows: VHRED + u.d. (Fig. 4) and VHRED with the decoder on z_utt only (Fig. 2).
VHCR_FIGURE_ROWS = ("vhred_ud", "vhred_zonly")
CO_KL_ROWS = ("kla", "kla_bow", "co_ss")
VHCR_KL_ROWS = ("vhred", "vhred_wd", "vhred_ud", "vhred_bow", "vhcr_ud")
STUDIES = {
    "co_dailydialog": Study("co", "dailydialog", CO_STUDY_ROWS, kl_rows=CO_KL_ROWS),
    "co_switchboard": Study("co", "switchboard", CO_STUDY_ROWS, kl_rows=CO_KL_ROWS),
    "vhcr_dailydialog": Study("vhcr", "dailydialog", VHCR_STUDY_ROWS, VHCR_FIGURE_ROWS,
                              VHCR_KL_ROWS),
    "vhcr_cornell": Study("vhcr", "cornell", VHCR_STUDY_ROWS, VHCR_FIGURE_ROWS, VHCR_KL_ROWS),
    "vhcr_ubuntu": Study("vhcr", "ubuntu", VHCR_STUDY_ROWS, VHCR_FIGURE_ROWS, VHCR_KL_ROWS),
}
# Rows whose CO-Figure-3 latent cloud is drawn: CO+SS against VHRED (with KL annealing).
TSNE_ROWS = ("co_ss", "kla")


@dataclasses.dataclass(frozen=True)
class ReducedScale:
    """--scale small: every row trained to its own validation optimum on 2 CPU cores.

    Reduced sizes and an adaptive softmax; one constant Adam rate after a short warm-up for
    every row and both CO optimizers; the whole validation split every `validate_every`
    steps; early stopping after `patience` validations without a better bound, armed only
    once the KL ramp and scheduled sampling have ended; a row still improving at
    `max_epochs` data epochs (the VHCR authors' run length; for an alternating CO row,
    data epochs of AE-phase steps, twice the global steps) is reported "not converged".
    Schedules in data epochs, not scaled from
    the paper's step counts: a KL ramp of `kl_ramp_epochs`, CO phases of `co_phase_steps`
    (many AE/CVAE alternations), scheduled sampling over `ss_ae_phases` AE phases. Free
    bits per dimension scaled by paper latent size / ours, so FB reserves what it
    reserves at paper scale (0.01 x 512 = 5.12 nats), as FB-all's total of 5 does.
    """
    model: tuple = (("embedding_dim", 128), ("utterance_units", 128),
                    ("context_units", 256), ("decoder_units", 128), ("latent_dim", 128),
                    ("conv_latent_dim", 128), ("mlp_units", 128))
    softmax_cutoffs: tuple = (2000, 6000)  # adaptive softmax (exact), if the vocabulary allows
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    validate_every: int = 200
    patience: int = 4
    max_epochs: int = 30
    kl_ramp_epochs: float = 4.0
    co_phase_steps: int = 100
    ss_ae_phases: int = 8


SMALL = ReducedScale()
SMALL_BATCH = 64


class StudyError(cli.ToolError):
    """The study cannot go on; the message names the row, file or option and the fix."""


def paper_config(study: Study, preset: str, data_dir: str) -> configs.ExperimentConfig:
    """The row as its paper trains it on this dataset (the preset, nothing reduced)."""
    config = configs.make_config(preset, dataset=study.dataset, paper=study.paper)
    config.override({"data": {"data_dir": data_dir}})
    return config


def small_scale(config: configs.ExperimentConfig, study: Study, stats: dict, vocab_size: int,
                epochs: int | None = None, steps_per_epoch: int | None = None
                ) -> tuple[configs.ExperimentConfig, int]:
    """The reduced configuration (`SMALL`) of a paper-scale `config`; `epochs` x
    `steps_per_epoch` replace its cap and validation interval. Returns (config, paper-scale
    planned steps)."""
    from pipeline.training.budget import planned_steps
    _, paper_steps = planned_steps(config, stats)
    data_epoch = max(1, stats["splits"]["train"]["slices"] // study.small_batch)
    m = config.model
    steps_per_epoch = steps_per_epoch or SMALL.validate_every
    # An alternating CO run updates its encoder and decoder only in AE phases, half its
    # steps: its cap counts those, so its decoder sees the data as often as other rows'.
    ae_share = 2 if m.architecture == "co" and not m.joint_phases else 1
    epochs = epochs or -(-ae_share * SMALL.max_epochs * data_epoch // steps_per_epoch)
    model = dict(SMALL.model)
    model["softmax_cutoffs"] = (list(SMALL.softmax_cutoffs)
                                if vocab_size > 1.5 * SMALL.softmax_cutoffs[-1] else [])
    if m.kl_annealing_steps:
        model["kl_annealing_steps"] = round(SMALL.kl_ramp_epochs * data_epoch)
    if m.architecture == "co":
        model["phase_period_steps"] = SMALL.co_phase_steps
    if m.scheduled_sampling_steps:
        model["scheduled_sampling_steps"] = SMALL.ss_ae_phases * SMALL.co_phase_steps
    if m.free_bits_per_dim:
        model["free_bits_per_dim"] = m.free_bits_per_dim * m.latent_dim / model["latent_dim"]
    config.override({"model": model, "data": {"batch_size": study.small_batch},
                     "train": {"learning_rate": SMALL.learning_rate, "lr_decay": "constant",
                               "warmup_steps": SMALL.warmup_steps, "validation_steps": 0,
                               "early_stopping_patience": SMALL.patience,
                               "epochs": epochs, "steps_per_epoch": steps_per_epoch}},
                    is_strict=True)
    return config, paper_steps


def objective_settles_at(config: configs.ExperimentConfig, stats: dict) -> int:
    """The global step from which the objective no longer changes: the end of the
    learning-rate warm-up, the KL ramp and scheduled sampling (the AE-phase step k of an
    alternating CO run falls later on the global step). Early stopping is armed there."""
    from pipeline.training.budget import planned_steps
    m = config.model
    steps = [config.train.warmup_steps, m.kl_annealing_steps]
    if m.architecture == "co" and m.scheduled_sampling_steps:
        k = m.scheduled_sampling_steps
        if m.joint_phases:
            steps.append(k)
        else:
            steps_per_epoch, _ = planned_steps(config, stats)
            period = (m.phase_period_steps or m.phase_period_epochs * steps_per_epoch)
            full, rest = divmod(k, period)
            steps.append(full * 2 * period + rest if rest else (2 * full - 1) * period)
    return max(steps)


def row_config(study: Study, preset: str, data_dir: str, scale: str, stats: dict,
               vocab_size: int, params_override: str | None = None, epochs: int | None = None,
               steps_per_epoch: int | None = None
               ) -> tuple[configs.ExperimentConfig, configs.ExperimentConfig, int]:
    """(config the row trains with, paper-scale config, paper-scale planned steps)."""
    from pipeline.training.budget import planned_steps
    paper = paper_config(study, preset, data_dir)
    config = paper_config(study, preset, data_dir)
    if scale == "small":
        config, paper_steps = small_scale(config, study, stats, vocab_size, epochs,
                                          steps_per_epoch)
    else:
        _, paper_steps = planned_steps(paper, stats)
        if epochs or steps_per_epoch:
            config.override({"train": {"epochs": epochs or config.train.epochs,
                                       "steps_per_epoch": steps_per_epoch or 0}})
    if params_override:
        try:
            config = configs.params_dict.override_params_dict(config, params_override,
                                                              is_strict=True)
        except (ValueError, KeyError) as e:
            raise StudyError(f"--params_override: {e}") from None
    if "train.early_stopping_start_step" not in (params_override or ""):
        config.override({"train": {"early_stopping_start_step":
                                   objective_settles_at(config, stats)}})
    return config, paper, paper_steps


def check_study_data(name: str, study: Study, data_dir: str) -> None:
    """Refuses data of another corpus, or sliced otherwise than the paper trains on."""
    manifest = data.read_manifest(data_dir)
    fix = (f"preprocess it with python -m preprocessing.run --corpus {study.dataset} "
           f"--max_slice_words {study.max_slice_words} --output {study.default_data_dir}")
    if manifest is None:
        raise StudyError(f"--data {data_dir} holds no finished preprocessing run (no "
                         f"run.json): {fix}")
    corpus = manifest.get("corpus")
    slice_words = manifest.get("options", {}).get("max_slice_words")
    if corpus != study.dataset:
        raise StudyError(f"--data {data_dir} holds {corpus!r}, the study {name} needs "
                         f"{study.dataset!r}: {fix}")
    if slice_words != study.max_slice_words:
        wanted = ("whole conversations (max_slice_words 0)" if not study.max_slice_words
                  else f"{study.max_slice_words}-word slices")
        raise StudyError(f"--data {data_dir} was preprocessed with max_slice_words "
                         f"{slice_words} (its run.json); the study {name} trains on "
                         f"{wanted}, as the paper does: {fix}")


def load_state(out_dir: str) -> dict | None:
    """The study's state (study.json in its results folder), or None for a new one."""
    return read_json(os.path.join(out_dir, STATE_FILE))


def save_state(out_dir: str, state: dict) -> None:
    """Written beside and renamed over the old file: a kill never leaves half a state."""
    os.makedirs(out_dir, exist_ok=True)
    write_json_atomic(os.path.join(out_dir, STATE_FILE), state)


@contextlib.contextmanager
def state_lock(runs_dir: str) -> Iterator[None]:
    """Held while a process merges study.json or writes the README (other processes of
    the study wait for it)."""
    os.makedirs(runs_dir, exist_ok=True)
    with files.exclusive_lock(os.path.join(runs_dir, STATE_LOCK), wait=True):
        yield


def merge_state(out_dir: str, state: dict, mine: set[tuple[str, str]]) -> None:
    """Takes into `state`, in place, what other processes of the study saved: every seed
    but this process's own (`mine`: (preset, seed) pairs) from study.json on disk, and the
    rows only they ran. Call under `state_lock`."""
    saved = load_state(out_dir) or {}
    for preset, saved_row in saved.get("rows", {}).items():
        row = state["rows"].setdefault(preset, {})
        for key, value in saved_row.items():
            row.setdefault(key, value)
        seeds = row.setdefault("seeds", {})
        for seed, seed_state in saved_row.get("seeds", {}).items():
            if (preset, seed) not in mine:
                seeds[seed] = seed_state


def sync_state(out_dir: str, runs_dir: str, state: dict, mine: set[tuple[str, str]]
               ) -> None:
    """study.json becomes the merge of this process's seeds and every other's."""
    with state_lock(runs_dir):
        merge_state(out_dir, state, mine)
        save_state(out_dir, state)


def check_same_study(state: dict, plan: dict) -> None:
    """Refuses to continue a study made with another scale, budget or data."""
    differences = [f"{key}: {state['plan'].get(key)!r} there, {plan[key]!r} now"
                   for key in plan if state["plan"].get(key) != plan[key]]
    if differences:
        raise StudyError("the results folder holds a study made with other options (" +
                         "; ".join(differences) + "). Rerun with the same options, or "
                         "give another --out and --runs_dir to start a new study.")


def run_logged(command: list[str], log_path: str, what: str) -> None:
    """Runs a pipeline tool in a fresh process, its output appended to `log_path`."""
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(command)}\n")
        f.flush()
        result = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-2000:]
        raise StudyError(f"{what} failed (exit {result.returncode}); its output is in "
                         f"{log_path}:\n{tail}")


def reopen_if_capped(seed_state: dict, kept_dir: str, cap: int, run_dir: str) -> bool:
    """A finished seed that stopped at an older, lower step cap is trained further to `cap`:
    its stages are cleared and True returned. Where `run_dir` still holds the run it
    continues from its backup (its training log, which the report's training time is
    summed from, goes on); without it (another machine) the seed trains again from step 0.
    A seed stopped early, or at this cap, stays finished."""
    ended = study_report.kept_ending(kept_dir) or {}
    if ended.get("reason") != "all planned steps" or ended.get("step", cap) >= cap:
        return False
    continues = os.path.isfile(os.path.join(run_dir, RECORD_FILE))
    log.info("seed kept in %s reached the old cap of %d steps; %s, to %d", kept_dir,
             ended["step"], "training further" if continues else
             f"its run is not in {run_dir}: training again from step 0", cap)
    seed_state.clear()
    return True


def run_row(study: Study, preset: str, config: configs.ExperimentConfig, run_dir: str,
            eval_options: list[str], row_state: dict, save: Callable[[], None]) -> list[str]:
    """Trains and evaluates one seed of a row, skipping the stages `row_state` records as
    done: the evaluation of the model, for a row with utterance drop also the authors'
    evaluation with it left on, and for the CO Figure 3 rows the latent cloud."""
    os.makedirs(run_dir, exist_ok=True)
    config_path = os.path.join(run_dir, "study_config.yaml")
    log_path = os.path.join(run_dir, "study.log")
    python = sys.executable
    if "train_seconds" not in row_state:
        with open(config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config.as_dict(), f, sort_keys=False)
        start = time.time()
        run_logged([python, "-m", "pipeline.train", "--model", preset,
                    "--data", config.data.data_dir, "--model_dir", run_dir,
                    "--config_file", config_path, "--progress", "epoch"], log_path,
                   f"training {preset}")
        # This process's clock: the stage's done-mark; the report reads the training log.
        row_state["train_seconds"] = round(time.time() - start, 1)
        save()
    stages = [("eval_seconds", [python, "-m", "pipeline.evaluate", "--model_dir", run_dir,
                                *eval_options], f"evaluating {preset}")]
    if config.model.utterance_drop:
        stages.append(("eval_udrop_seconds",
                       [python, "-m", "pipeline.evaluate", "--model_dir", run_dir,
                        "--utterance_drop_at_eval", "--modes", ""],
                       f"evaluating {preset} with utterance drop on"))
    if study.paper == "co" and preset in TSNE_ROWS:
        stages.append(("latent_seconds",
                       [python, "-m", "pipeline.latent", "embedding", "--model_dir", run_dir,
                        "--out", os.path.join(run_dir, "latent")],
                       f"latent cloud of {preset}"))
    for key, command, what in stages:
        if key not in row_state:
            start = time.time()
            run_logged(command, log_path, what)
            row_state[key] = round(time.time() - start, 1)
            save()
    return [key for key, _, _ in stages]


def eval_options_for(study: Study, max_examples: int) -> list[str]:
    """CO reads beam-5 responses (Table 2), VHCR greedy ones, 1- and 3-turn (Table 3)."""
    modes = "greedy,beam" if study.paper == "co" else "greedy"
    return ["--modes", modes, "--max_examples", str(max_examples)]


def run_study(name: str, scale: str = "small", data_dir: str | None = None,
              out_dir: str | None = None, runs_dir: str | None = None,
              rows: Sequence[str] | None = None, params_override: str | None = None,
              epochs: int | None = None, steps_per_epoch: int | None = None,
              max_examples: int = 200, seeds: int | str = "auto") -> str:
    """Runs (or resumes) the study; returns the path of the README it wrote."""
    if name not in STUDIES:
        raise StudyError(f"{name!r} is not a study; choose one of {', '.join(STUDIES)}")
    study = STUDIES[name]
    if seeds != "auto" and not (str(seeds).isdigit() and int(seeds) >= 1):
        raise StudyError(f"--seeds {seeds!r}: a number >= 1, or auto (2 for the rows whose "
                         "claims are about a KL, 1 elsewhere)")
    data_dir = data_dir or study.default_data_dir
    out_dir = out_dir or os.path.join("results", name)
    runs_dir = runs_dir or os.path.join("runs", "study", name)
    rows = tuple(rows or study.all_rows)
    unknown = [r for r in rows if r not in study.all_rows]
    if unknown:
        raise StudyError(f"--rows {','.join(unknown)}: not rows of {name} "
                         f"({', '.join(study.all_rows)})")
    check_study_data(name, study, data_dir)
    stats = data.load_stats(data_dir)
    vocab_size = len(data.load_vocabulary(data_dir))
    # Paths as given (the committed results must not name this machine's folders).
    plan = {"study": name, "scale": scale, "data_dir": os.path.normpath(data_dir),
            "runs_dir": os.path.normpath(runs_dir), "params_override": params_override or "",
            "epochs": epochs, "steps_per_epoch": steps_per_epoch,
            "max_examples": max_examples, "seeds": str(seeds)}
    state = load_state(out_dir)
    if state is None:
        state = {"plan": plan, "rows": {}}
    check_same_study(state, plan)

    configs_by_row = {}
    from pipeline.training.budget import check_budget, planned_steps
    for preset in rows:  # every row's config is checked before any row trains
        config, paper, paper_steps = row_config(study, preset, data_dir, scale, stats,
                                                vocab_size, params_override, epochs,
                                                steps_per_epoch)
        try:
            check_budget(config, planned_steps(config, stats)[1])
        except configs.ConfigError as e:
            raise StudyError(f"row {preset}: {e}") from None
        configs_by_row[preset] = (config, paper, paper_steps)

    mine = set()  # the (preset, seed) pairs this process holds the claim of
    save = lambda: sync_state(out_dir, runs_dir, state, mine)  # noqa: E731
    for preset in rows:
        config, paper, paper_steps = configs_by_row[preset]
        row_state = state["rows"].setdefault(preset, {})
        row_state.update({"config": config.as_dict(), "paper_steps": paper_steps,
                          "paper_config": paper.as_dict()})
        for seed in range(1, study.seeds_of(preset, seeds) + 1):
            run_dir = seed_dir(runs_dir, preset, seed)
            with contextlib.ExitStack() as claim:
                os.makedirs(run_dir, exist_ok=True)
                try:
                    claim.enter_context(files.exclusive_lock(os.path.join(run_dir,
                                                                          CLAIM_FILE)))
                except files.Locked as holder:
                    log.info("%s seed %d: another study process works on it (%s), skipped",
                             preset, seed, holder)
                    continue
                save()  # takes what other processes finished before this claim
                mine.add((preset, str(seed)))  # while claimed: on release, disk's again
                claim.callback(mine.discard, (preset, str(seed)))
                seed_state = row_state.setdefault("seeds", {}).setdefault(str(seed), {})
                seeded = configs.ExperimentConfig(config.as_dict())
                seeded.override({"train": {"seed": seed}})
                cap = planned_steps(seeded, stats)[1]
                kept_dir = seed_dir(os.path.join(out_dir, "rows"), preset, seed)
                if seed_state.get("done") and not reopen_if_capped(seed_state, kept_dir,
                                                                    cap, run_dir):
                    log.info("%s seed %d: finished, skipped", preset, seed)
                    continue
                log.info("%s seed %d: %s scale, at most %d steps", preset, seed, scale, cap)
                run_row(study, preset, seeded, run_dir,
                        eval_options_for(study, max_examples), seed_state, save)
                study_report.keep_row(run_dir, kept_dir)
                seed_state["done"] = True
                save()
    with state_lock(runs_dir):
        merge_state(out_dir, state, mine)
        save_state(out_dir, state)
        return study_report.write(name, study, state, runs_dir, out_dir, study.all_rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.base_parser("python -m pipeline.study", __doc__)
    parser.add_argument("name", type=cli.choice(STUDIES, "a study"), metavar="NAME",
                        help="one of: " + ", ".join(STUDIES))
    parser.add_argument("--scale", choices=("small", "paper"), default="small")
    parser.add_argument("--data", help="preprocessed data (default: data/DATASET for CO "
                        "studies, 80-word slices; data/DATASET_dialogues for VHCR studies, "
                        "whole conversations: --max_slice_words 0)")
    parser.add_argument("--out", help="results folder (default: results/NAME)")
    parser.add_argument("--runs_dir", help="where the rows' models go (default: runs/study/NAME)")
    parser.add_argument("--rows", help="a comma-separated subset of the table's rows")
    parser.add_argument("--params_override", help="applied to every row after the scale, "
                        "e.g. model.decoder_conditioning=every_step")
    parser.add_argument("--epochs", type=int, help="override the scale's epochs")
    parser.add_argument("--steps_per_epoch", type=int,
                        help="override the scale's steps per epoch (0 = one data pass)")
    parser.add_argument("--max_examples", type=int, default=200,
                        help="test slices decoded for the response metrics")
    parser.add_argument("--seeds", default="auto",
                        help="times each row is trained (initialisation and data order): a "
                        "number, or auto: 2 for the rows whose claims are about a KL, 1 "
                        "elsewhere (default)")
    args = parser.parse_args(argv)
    readme = cli.run_tool(lambda: run_study(
        args.name, args.scale, args.data, args.out, args.runs_dir,
        args.rows.split(",") if args.rows else None, args.params_override, args.epochs,
        args.steps_per_epoch, args.max_examples, args.seeds))
    print(f"Study written to {readme}")


if __name__ == "__main__":
    main()
