"""What a study writes to results/NAME/: the rows' numbers (study.json), the training
curves (PNG), the paper's tables beside ours, and each qualitative claim of the paper marked
held / not held / not measurable (README.md). Reads only the rows' run folders."""
import csv
import json
import math
import os
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipeline import report
from pipeline.evaluation import eval_files
from pipeline.studies import claims as study_claims
from pipeline.studies import seeds as study_seeds
from pipeline.tables import markdown_table, number
from pipeline.training.run_record import RECORD_FILE
from preprocessing.files import write_json_atomic

if TYPE_CHECKING:  # a type name only: pipeline.study imports this module
    from pipeline.study import Study

CURVE_COLUMNS = ("global_step", "kl_utt", "kl_conv", "kl_weight", "val_kl_utt", "val_kl_conv",
                 "val_nll_bound", "val_ppl", "val_prior_variance_ratio_utt",
                 "val_active_units_utt", "val_active_units_conv", "val_context_gain",
                 "phase")


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _log_rows(run_dir: str) -> list[dict]:
    """The rows of the run's training_log.csv (one per epoch end); [] without one."""
    path = os.path.join(run_dir, "training_log.csv")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def training_curve(rows: list[dict]) -> dict[str, list[float | None]]:
    """{column: [value per epoch end]} from a training log's rows (None = blank)."""
    return {column: [_number(r.get(column)) for r in rows]
            for column in CURVE_COLUMNS if rows and column in rows[0]}


def logged_train_seconds(rows: list[dict]) -> float | None:
    """A run's training time: the wall seconds of the epochs in its training log's rows
    (training and validation), summed. A run resumed after its process was killed counts
    each logged epoch once, where the study's own clock loses the killed process's time.
    Logs written before `epoch_seconds` existed give words / tokens_per_sec, the same
    quantity (TrainingMonitor computes both at the epoch end); None without a log."""
    total = 0.0
    for r in rows:
        seconds = _number(r.get("epoch_seconds"))
        if seconds is None:
            words, rate = _number(r.get("words")), _number(r.get("tokens_per_sec"))
            if not words or not rate:
                return None
            seconds = words / rate
        total += seconds
    return round(total, 1) if rows else None


def _read(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# What the report needs of a finished seed, kept in results/NAME/rows/PRESET/seedN/ so a
# study resumes on a machine without the run folders (they hold weights: never committed).
KEPT = {"test.json": ("eval", "best", "test.json"),
        "test-udrop.json": ("eval", "best-udrop", "test.json"),
        "training_log.csv": ("training_log.csv",),
        "latent_summary.json": ("latent", "summary.json")}


def keep_row(run_dir: str, kept_dir: str) -> None:
    """Copies a finished seed's evaluation reports, training log, latent summary and how
    its training ended (no paths of this machine) into `kept_dir`."""
    os.makedirs(kept_dir, exist_ok=True)
    for name, parts in KEPT.items():
        source = os.path.join(run_dir, *parts)
        if os.path.isfile(source):
            shutil.copyfile(source, os.path.join(kept_dir, name))
    record = _read(os.path.join(run_dir, RECORD_FILE)) or {}
    write_json_atomic(os.path.join(kept_dir, "finished.json"),
                      {"finished": record.get("finished"),
                       "git_commit": record.get("git_commit")})


def kept_ending(kept_dir: str) -> dict | None:
    """How a kept seed's training ended ({"step", "reason"}), or None."""
    return (_read(os.path.join(kept_dir, "finished.json")) or {}).get("finished")


def load_row(run_dir: str, kept_dir: str | None = None) -> dict:
    """One seed of a row: its evaluation report (and the one with utterance drop left on,
    if made), training curve, latent-cloud summary and how its training ended; from the
    run folder, else from what the study kept of it."""
    if kept_dir and os.path.isfile(os.path.join(kept_dir, "test.json")):
        kept = lambda name: os.path.join(kept_dir, name)  # noqa: E731
        log = _log_rows(kept_dir)
        return {"evaluation": _read(kept("test.json")),
                "curve": training_curve(log), "train_seconds": logged_train_seconds(log),
                "latent": _read(kept("latent_summary.json")),
                "evaluation_udrop": _read(kept("test-udrop.json")),
                "finished": kept_ending(kept_dir)}
    evaluation = _read(eval_files.report_path(run_dir, "test", "best"))
    if evaluation is None:
        raise FileNotFoundError(f"{run_dir}: no evaluation report, and nothing kept of it "
                                f"in {kept_dir}")
    record = _read(os.path.join(run_dir, RECORD_FILE)) or {}
    log = _log_rows(run_dir)
    return {"evaluation": evaluation, "curve": training_curve(log),
            "train_seconds": logged_train_seconds(log),
            "latent": _read(os.path.join(run_dir, "latent", "summary.json")),
            "evaluation_udrop": _read(eval_files.report_path(run_dir, "test", "best-udrop")),
            "finished": record.get("finished")}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


SEED_MARKERS = "os^Dv"


def line_looks(rows: dict[str, dict]) -> dict[str, tuple[tuple, str]]:
    """{line label: (colour, marker)}: a line's `group` (its row) picks the colour and its
    `seed` the marker, so a row's seeds read as one row and no two rows share a colour
    (matplotlib's default cycle repeats after ten lines)."""
    plt = _plt()
    groups = list(dict.fromkeys(row.get("group", label) for label, row in rows.items()))
    palette = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    colours = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    return {label: (colours[row.get("group", label)],
                    SEED_MARKERS[(row.get("seed", 1) - 1) % len(SEED_MARKERS)])
            for label, row in rows.items()}


def plot_curves(rows: dict[str, dict], column_sets: list[tuple[str, str]], path: str,
                ylabel: str, log_scale: bool = False, title: str = "") -> bool:
    """One panel per (column, panel title); one line per row; x = global step."""
    plt = _plt()
    figure, axes = plt.subplots(1, len(column_sets), figsize=(6 * len(column_sets), 4),
                                squeeze=False)
    looks = line_looks(rows)
    drawn = False
    for ax, (column, panel) in zip(axes[0], column_sets):
        for preset, row in rows.items():
            curve = row["curve"]
            points = [(x, y) for x, y in zip(curve.get("global_step", []),
                                             curve.get(column, [])) if x is not None
                      and y is not None]
            if points:
                colour, marker = looks[preset]
                ax.plot(*zip(*points), row.get("style", "-"), color=colour, marker=marker,
                        markersize=3, label=preset)
                drawn = True
        ax.set_title(panel)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if drawn:
        figure.savefig(path, dpi=110)
    plt.close(figure)
    return drawn


def write_figures(study: "Study", rows: dict[str, dict], out_dir: str,
                  references: list[dict] | None = None) -> dict[str, str]:
    """The study's PNGs; returns {figure name: file name} of those drawn. `rows` maps a
    line's label to its row; `references` (the authors' code) are drawn dashed beside
    them, in their row's colour, in the KL and bound figures."""
    figures = {}
    references = {f"authors' code: {r['row']}": {"curve": r["curve"], "style": "--",
                                                  "group": r["row"]}
                  for r in references or ()}
    kl_panels = [("val_kl_utt", "KL of z_utt (CO: e), nats per word, validation")]
    if study.paper == "vhcr":
        kl_panels.append(("val_kl_conv", "KL of z_conv, nats per word, validation"))
    if plot_curves({**rows, **references}, kl_panels,
                   os.path.join(out_dir, "kl_over_training.png"),
                   "KL (nats / word)", title="KL of each latent over training ("
                   + ("VHCR Fig. 1, 4" if study.paper == "vhcr" else "as VHCR Fig. 1") + ")"):
        figures["kl"] = "kl_over_training.png"
    ratio_rows = {p: r for p, r in rows.items() if p.startswith(("vhred", "vhcr", "kla"))}
    if plot_curves(ratio_rows, [("val_prior_variance_ratio_utt",
                                 "z_utt prior: E[sigma^2] / Var(mu), validation")],
                   os.path.join(out_dir, "prior_variance_ratio.png"), "ratio", log_scale=True,
                   title="Prior variance ratio over training (VHCR Fig. 2)"):
        figures["ratio"] = "prior_variance_ratio.png"
    if plot_curves({**rows, **references},
                   [("val_nll_bound", "NLL bound, nats per word, validation"),
                          ("val_context_gain", "context gain, nats per word, validation")],
                   os.path.join(out_dir, "nll_bound_over_training.png"), "nats / word"):
        figures["nll"] = "nll_bound_over_training.png"
    return figures


def copy_tsne(rows: dict[str, dict], runs_dir: str, out_dir: str) -> dict[str, str]:
    """CO Figure 3 PNGs of the rows that drew one (their first seed), copied into results/."""
    names = {}
    for preset, row in rows.items():
        source = os.path.join(study_seeds.seed_dir(runs_dir, preset, 1), "latent", "tsne.png")
        target = os.path.join(out_dir, f"tsne_{preset}.png")
        if row.get("latent") and os.path.isfile(source):
            shutil.copyfile(source, target)
        if row.get("latent") and os.path.isfile(target):  # copied by an earlier session
            names[preset] = os.path.basename(target)
    return names


def _setup_lines(name, study, state, rows):
    plan = state["plan"]
    first = next(state["rows"][p] for p in rows if p in state["rows"])  # the setup of any row
    c, p = first["config"], first["paper_config"]
    m, t = c["model"], c["train"]
    small = plan["scale"] == "small"
    lines = [
        f"- Command: `python -m pipeline.study {name} --scale {plan['scale']}"
        + (f" --params_override {plan['params_override']}" if plan["params_override"] else "")
        + (f" --epochs {plan['epochs']}" if plan["epochs"] else "")
        + (f" --steps_per_epoch {plan['steps_per_epoch']}" if plan["steps_per_epoch"] else "")
        + (f" --seeds {plan['seeds']}" if plan.get("seeds", "auto") != "auto" else "")
        + "`",
        f"- Data: {study.dataset} (`{os.path.basename(plan['data_dir'])}`), "
        + ("whole conversations" if not study.max_slice_words
           else f"{study.max_slice_words}-word slices")
        + f"; responses decoded for {plan['max_examples']} test "
        f"{'slices' if study.max_slice_words else 'conversations'}; likelihood over the whole "
        "test split.",
        f"- Sizes: embedding {m['embedding_dim']}, utterance GRU {m['utterance_units']}, "
        f"context GRU {m['context_units']}, decoder GRU {m['decoder_units']}, latents "
        f"{m['latent_dim']}" + (f" (z_conv {m['conv_latent_dim']})" if study.paper == "vhcr"
                                else "") + f", MLPs {m['mlp_units']}; softmax "
        + (f"adaptive, cutoffs {m['softmax_cutoffs']} (an exact distribution)"
           if m["softmax_cutoffs"] else "full")
        + f"; decoder conditioned through its {m['decoder_conditioning'].replace('_', ' ')}"
        f" ({m.get('decoder_init_activation', 'tanh')} first-state layer); word embeddings "
        "initialised N(0, 1).",
        f"- Optimiser: Adam {t['learning_rate']:g} (both CO optimizers, on the global "
        f"step), warm-up {t['warmup_steps']} steps, {t['lr_decay']} after it; batch "
        f"{c['data']['batch_size']}.",
        f"- Training: the whole validation split every {t['steps_per_epoch'] or 'epoch'} steps; "
        f"early stopping after {t['early_stopping_patience']} validations without a better "
        "bound, armed only once the row's KL ramp and scheduled sampling have ended (its "
        f"step below); at most {step_caps(state, rows)}"
        + (" (a row that reaches its cap is **not converged**)" if small else "")
        + "; the `best` checkpoint (validation bound, from the arming step on) is evaluated.",
        f"- Paper scale for comparison: batch {p['data']['batch_size']}, Adam "
        f"{p['train']['learning_rate']:g}, {p['train']['epochs']} epochs "
        f"({first['paper_steps']} steps on this data), paper sizes, full softmax.",
        f"- Seeds: {plan.get('seeds', 'auto')}" + (" (2 for the rows whose claims are about a "
                                                   "KL, 1 elsewhere)"
                                                   if plan.get("seeds", "auto") == "auto"
                                                   else "")
        + "; tables give the seeds' mean, the rows table each seed.", ""]
    return lines


def step_caps(state: dict, rows: Sequence[str]) -> str:
    """'N steps', or 'N steps, M for a, b' where rows have other caps (an alternating
    CO row counts its AE-phase steps)."""
    caps = {}
    for p in rows:
        if p in state["rows"]:
            t = state["rows"][p]["config"]["train"]
            caps.setdefault(t["epochs"] * (t["steps_per_epoch"] or 1), []).append(p)
    common, *others = sorted(caps, key=lambda cap: -len(caps[cap]))
    return f"{common} steps" + "".join(f", {cap} for {', '.join(caps[cap])}"
                                       for cap in others)


def total_kl(likelihood: dict) -> float | None:
    """The KL per word of every latent (z_utt or CO's e, plus VHCR's z_conv), or None."""
    parts = [likelihood.get(k) for k in ("kl_utt", "kl_conv") if likelihood.get(k) is not None]
    return sum(parts) if parts else None


def _seed_state(state: dict, preset: str, row: dict) -> dict:
    """The study state of the seed a loaded row was trained as (its `seed` number: a row's
    finished seeds need not be 1..n, e.g. while seed 1 trains further to a higher cap)."""
    return state["rows"][preset]["seeds"][str(row["seed"])]


def train_seconds(row: dict, seed_state: dict) -> float:
    """A seed's training time: from its training log, else the study's clock."""
    logged = row.get("train_seconds")
    return logged if logged is not None else seed_state.get("train_seconds", 0)


def _row_lines(study, state, loaded):
    """One line per seed of each row: schedules, optimum, convergence, time, test bound."""
    rows = []
    key = "nll_bound_per_slice" if study.paper == "co" else "nll_bound"
    for preset, seed_rows in loaded.items():
        r = state["rows"][preset]
        mc, mp = r["config"]["model"], r["paper_config"]["model"]
        start = r["config"]["train"].get("early_stopping_start_step", 0)
        label = preset + (" (figure row)" if preset in study.figure_rows else "")
        for row in seed_rows:
            seed = row["seed"]
            best = study_seeds.steps_to_optimum(row["curve"], start)
            finished = row.get("finished") or {}
            converged = ("yes" if finished.get("reason") == "early stopping" else
                         "**no** (step cap)" if finished else "-")
            seconds = train_seconds(row, _seed_state(state, preset, row))
            rows.append(
                [label, seed, f"{mc['kl_annealing_steps']} / {mp['kl_annealing_steps']}",
                 f"{mc['scheduled_sampling_steps']} / {mp['scheduled_sampling_steps']}",
                 start, f"{best[0]:.0f}", finished.get("step", "-"), converged, seconds]
                if best else [label, seed, "-", "-", start, "-", "-", converged, seconds])
    lines = markdown_table(("row", "seed", "KL ramp (ours / paper)", "SS k (ours / paper)",
                            "early stopping armed at", "best step", "last step", "converged",
                            "train s"), rows, "lrrrrrrlr")
    columns = sorted({row["seed"] for seed_rows in loaded.values() for row in seed_rows})
    rows = []
    for preset, seed_rows in loaded.items():
        by_seed = {row["seed"]: row["evaluation"]["likelihood"] for row in seed_rows}
        values = [d.get(key) for d in by_seed.values()]
        cells = []
        for seed in columns:
            v = (by_seed.get(seed) or {}).get(key)
            k = total_kl(by_seed[seed]) if seed in by_seed else None
            cells.append("-" if v is None else f"{v:.4f}" if k is None  # HRED: no latent
                         else f"{v:.4f} (KL {k:.4f})")
        numbers = [v for v in values if v is not None]
        mean = sum(numbers) / len(numbers) if numbers else None
        spread = max(numbers) - min(numbers) if len(numbers) > 1 else None
        rows.append([preset, *cells, number(mean), number(spread)])
    lines += ["", "Test bound per seed (" + ("per slice" if study.paper == "co" else
                                              "per word") + ") and the KL of every latent "
              "(per word):", "",
              *markdown_table(["row", *(f"seed {k}" for k in columns), "mean",
                               "spread (max - min)"], rows)]
    total = 0.0
    for p, seed_rows in loaded.items():
        for row in seed_rows:
            seed = _seed_state(state, p, row)
            total += train_seconds(row, seed) + sum(
                seed.get(k, 0) for k in ("eval_seconds", "eval_udrop_seconds",
                                         "latent_seconds"))
    lines += ["", "Train s: the wall seconds of the epochs in the seed's training log "
              "(training and validation); an interrupted run that resumed counts each "
              "epoch once.", "",
              f"Wall time of the rows (training and evaluation): {total / 60:.1f} minutes "
              "on this machine."]
    gaps = [f"{p} seed {row['seed']}: step {', '.join(map(str, missing))}"
            for p, seed_rows in loaded.items() for row in seed_rows
            for missing in [missing_validations(
                row["curve"], state["rows"][p]["config"]["train"].get("steps_per_epoch"))]
            if missing]
    if gaps:
        lines += ["", "Validations missing from a seed's training log (its run was killed "
                  "during one and resumed after it, which training no longer does): "
                  + "; ".join(gaps) + "."]
    return lines


def missing_validations(curve: dict, every: int) -> list[int]:
    """The validation steps (multiples of `every`) absent from a training curve."""
    steps = {round(s) for s in curve.get("global_step", []) if s is not None}
    if not every or not steps:
        return []
    return [s for s in range(every, max(steps) + 1, every) if s not in steps]


def _udrop_lines(loaded):
    """VHCR + u.d. (and VHRED + u.d.) evaluated both ways: the model's own bound with
    utterance drop off, and the authors' evaluation with it left on."""
    rows = [(p, study_seeds.mean_row(seeds)) for p, seeds in loaded.items()
            if all(r.get("evaluation_udrop") for r in seeds)]
    if not rows:
        return []
    lines = ["### Utterance-drop rows evaluated both ways", "",
             "Utterance drop **off** is the model's own bound; **on** is how the VHCR "
             "authors' code evaluates (it does not switch the drop off), so their published "
             "VHCR + u.d. figures are of this kind. Seeds' mean, test split, per word.", ""]
    cells = []
    for preset, row in rows:
        off, on = row["evaluation"]["likelihood"], row["evaluation_udrop"]["likelihood"]
        cells.append([study_claims._name(preset),
                      *(number(d.get(k)) for d in (off, on)
                        for k in ("nll_bound", "kl_conv", "kl_utt"))])
    return lines + markdown_table(
        ("model", "NLL bound (off)", "KL z_conv (off)", "KL z_utt (off)", "NLL bound (on)",
         "KL z_conv (on)", "KL z_utt (on)"), cells) + [""]


def load_references(out_dir: str) -> list[dict]:
    """The reference runs of the authors' code (benchmarks/reference_vhcr.py) kept in
    results/NAME/reference/*.json: [{row, curve, ...}]."""
    folder = os.path.join(out_dir, "reference")
    if not os.path.isdir(folder):
        return []
    return [_read(os.path.join(folder, f)) for f in sorted(os.listdir(folder))
            if f.endswith(".json")]


REFERENCE_COLUMNS = {"val_nll_bound": "NLL bound", "val_kl_conv": "z_conv",
                     "val_kl_utt": "z_utt"}


def _reference_lines(references, loaded):
    """Per reference row, one line per validation step: the authors' code with utterance
    drop off (the model's bound, as ours is validated) and on (their own evaluation), then
    each of our seeds, so the two implementations read side by side at the same step. A
    VHRED row has no z_conv column and a row without utterance drop no `u.d. on` one."""
    if not references:
        return []
    lines = ["## The VHCR authors' code beside ours", "",
             "Their PyTorch code (`benchmarks/reference_vhcr.py`) on the same preprocessed "
             "conversations and vocabulary, at this study's sizes and schedule; validation "
             "per word on the whole validation split at every validation. Both "
             "implementations are validated with utterance drop off (the model's bound); "
             "`u.d. on` is the authors' code evaluated as their `evaluate()` runs, with the "
             "drop left on.", ""]
    for ref in references:
        settings = ref.get("settings") or {}
        columns = tuple(c for c in REFERENCE_COLUMNS
                        if c != "val_kl_conv" or settings.get("model", "VHCR") == "VHCR")
        sources = [("authors' code", ref["curve"], columns)]
        if settings.get("sentence_drop", 1) > 0:
            sources.append(("authors' code, u.d. on", ref["curve"],
                            tuple(f"{c}_udrop_on" for c in columns)))
        sources += [(f"ours, seed {seed['seed']}", seed["curve"], columns)
                    for seed in loaded.get(ref["row"], [])]
        by_step = [{step: [(curve.get(c) or [None] * (i + 1))[i] for c in columns]
                    for i, step in enumerate(curve.get("global_step", []))}
                   for _, curve, columns in sources]
        steps = sorted({step for values in by_step for step in values})
        names = [REFERENCE_COLUMNS[c] for c in columns]
        header = ["step"] + [f"{label}: {what}" for label, _, _ in sources for what in names]
        table = [[f"{step:.0f}"] + [number(v) for values in by_step
                                     for v in values.get(step, [None] * len(columns))]
                 for step in steps]
        lines += [f"**{ref['row']}** (KL per word of {' and '.join(names[1:])})", "",
                  *markdown_table(header, table), ""]
        ended = ref.get("finished")
        best = study_seeds.steps_to_optimum(
            ref["curve"], settings.get("early_stopping_start_step", 0))
        if ended and best:
            lines += [f"- {ref['row']}, the authors' code: ended by {ended['reason']} at step "
                      f"{ended['step']}, best validation bound {best[1]:.4f} at step "
                      f"{best[0]:.0f}"
                      + (f"; {ref['train_seconds']:.0f} s of training "
                         f"({ref['seconds_per_step']:.2f} s a step)"
                         if ref.get("train_seconds") and ref.get("seconds_per_step") else "")
                      + ".", ""]
        elif not ended:
            steps_run = ref["curve"].get("global_step") or [0]
            lines += [f"- {ref['row']}, the authors' code: **unfinished** (not ended by early "
                      f"stopping or its cap; last validation at step {steps_run[-1]:.0f}): not "
                      "comparable at its optimum yet.", ""]
        if ref.get("note"):
            lines += [f"- {ref['row']}: {ref['note']}", ""]
    return lines


def write(name: str, study: "Study", state: dict, runs_dir: str, out_dir: str,
          rows: Sequence[str]) -> str:
    """Collects every finished row and writes results.json, the PNGs and README.md."""
    os.makedirs(out_dir, exist_ok=True)
    loaded = {}
    for p in rows:
        seeds = state["rows"].get(p, {}).get("seeds", {})
        done = sorted((k for k, v in seeds.items() if v.get("done")), key=int)
        if done:
            loaded[p] = [{**load_row(study_seeds.seed_dir(runs_dir, p, int(k)),
                                     study_seeds.seed_dir(os.path.join(out_dir, "rows"), p,
                                                          int(k))),
                          "config": state["rows"][p]["config"], "seed": int(k)}
                         for k in done]
    mean, _ = study_seeds.views(loaded)
    labels = {(f"{p}" if len(seeds) == 1 else f"{p} s{row['seed']}"): {**row, "group": p}
              for p, seeds in loaded.items() for row in seeds}
    references = load_references(out_dir)
    figures = write_figures(study, labels, out_dir, references)
    tsne = copy_tsne(mean, runs_dir, out_dir)
    paper_numbers = report.load_paper_numbers()
    judge = lambda view: study_claims.judge(study, view, paper_numbers)  # noqa: E731
    claims = study_seeds.judge_on_seeds(judge, loaded)
    planned = {p: study.seeds_of(p, state["plan"].get("seeds", 1)) for p in loaded}
    study_seeds.unfinished_verdicts(claims, judge, mean, loaded, planned)
    findings = study_claims.findings(study, mean)
    results = {"study": name, "paper": study.paper, "dataset": study.dataset,
               "plan": state["plan"],
               "rows": {p: {"config": state["rows"][p]["config"],
                            "seconds": {
                                "train_seconds": [train_seconds(r, _seed_state(state, p, r))
                                                  for r in loaded[p]],
                                **{k: [_seed_state(state, p, r).get(k) for r in loaded[p]]
                                   for k in ("eval_seconds", "latent_seconds")}},
                            "likelihood": mean[p]["evaluation"]["likelihood"],
                            "likelihood_udrop": (mean[p].get("evaluation_udrop") or {}).get(
                                "likelihood"),
                            "responses": mean[p]["evaluation"]["responses"],
                            "curve": mean[p]["curve"], "latent": mean[p]["latent"],
                            "seeds": [{"seed": r["seed"],
                                       "likelihood": r["evaluation"]["likelihood"],
                                       "curve": r["curve"], "finished": r.get("finished")}
                                      for r in loaded[p]]}
                        for p in loaded},
               "references": next((r["evaluation"].get("references") for r in
                                   mean.values()), None),
               "constant_response": next((r["evaluation"].get("constant_response") for r in
                                          mean.values()), None),
               "reference_runs": references,
               "findings": findings, "claims": claims, "figures": {**figures, **tsne}}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)

    complete = [p for p in loaded if len(loaded[p]) >= planned[p]]
    paper_title = {"co": "Collaborative VED (Shen et al., AAAI 2018)",
                   "vhcr": "VHCR (Park et al., NAACL 2018)"}[study.paper]
    scale = {"small": "converged reduced scale"}.get(state["plan"]["scale"],
                                                    f"{state['plan']['scale']} scale")
    lines = [f"# Study `{name}`: {paper_title} on {study.dataset}, {scale}", "",
             f"Rows finished: {len(complete)} of {len(rows)}"
             + "".join(f"; {p} has {len(loaded[p])} of its {planned[p]} seeds"
                       for p in loaded if p not in complete)
             + ("" if len(complete) == len(rows) else " (rerun the command to finish the rest)")
             + ". Every number below is in `results.json`.", "", "## Setup", "",
             *_setup_lines(name, study, state, rows), *_row_lines(study, state, loaded), "",
             "## Findings (seeds' mean)", ""]
    lines += [f"- {f}" for f in findings] + ["", "## The paper's claims", "",
                                             "A claim is held only if it holds on the seeds' "
                                             "mean and on a majority of seeds.", ""]
    lines += markdown_table(("claim", "verdict", "evidence", "figure"),
                            [[c["claim"], f"**{c['verdict']}**", c["evidence"],
                              c["figure"] or "-"] for c in claims], "llll")
    lines += ["", "## Tables (ours, seeds' mean, beside the paper's)", ""]
    runs = [(p, row["evaluation"]) for p, row in mean.items()]
    for table in report.TABLES:
        if table.paper == f"{study.paper}_paper" and any(g for _, _, g in table.columns):
            lines += report.render_table(table, runs, paper_numbers, study.dataset)
    lines += _udrop_lines(loaded)
    lines += _reference_lines(references, loaded)
    lines += ["## Figures", ""]
    dashed = " (dashed: the authors' code)" if references else ""
    captions = {"kl": "KL of each latent on the validation split at every validation" + dashed,
                "ratio": "prior variance ratio E[sigma^2] / Var(mu) of z_utt (log scale)",
                "nll": "validation NLL bound, and the context gain (how much the bound "
                       "loses when a response is decoded from another response's context)"
                       + dashed}
    for key, file in figures.items():
        lines += [f"![{captions[key]}]({file})", "", f"*{captions[key]}*", ""]
    for preset, file in tsne.items():
        lines += [f"![t-SNE {preset}]({file})", "",
                  f"*{preset} (seed 1): t-SNE of 100 prior samples for one test context and 10 "
                  "posterior samples for each of its 10 nearest training contexts' responses "
                  "(CO Fig. 3)*", ""]
    path = os.path.join(out_dir, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
