"""What a study writes to results/NAME/: the rows' numbers (study.json), the training
curves (PNG), the paper's tables beside ours, and each qualitative claim of the paper marked
held / not held / not measurable (README.md). Reads only the rows' run folders."""
import csv
import json
import math
import os
import shutil

from pipeline import report
from pipeline.evaluation import eval_files
from pipeline.studies import claims as study_claims

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


def training_curve(run_dir):
    """{column: [value per epoch end]} from the run's training_log.csv (None = blank)."""
    path = os.path.join(run_dir, "training_log.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {column: [_number(r.get(column)) for r in rows]
            for column in CURVE_COLUMNS if rows and column in rows[0]}


def load_row(run_dir):
    """One row's evaluation report, training curve and latent-cloud summary."""
    path = eval_files.report_path(run_dir, "test", "best")
    with open(path, encoding="utf-8") as f:
        evaluation = json.load(f)
    latent = None
    summary = os.path.join(run_dir, "latent", "summary.json")
    if os.path.isfile(summary):
        with open(summary, encoding="utf-8") as f:
            latent = json.load(f)
    return {"evaluation": evaluation, "curve": training_curve(run_dir), "latent": latent}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(rows, column_sets, path, ylabel, log_scale=False, title=""):
    """One panel per (column, panel title); one line per row; x = global step."""
    plt = _plt()
    figure, axes = plt.subplots(1, len(column_sets), figsize=(6 * len(column_sets), 4),
                                squeeze=False)
    drawn = False
    for ax, (column, panel) in zip(axes[0], column_sets):
        for preset, row in rows.items():
            curve = row["curve"]
            points = [(x, y) for x, y in zip(curve.get("global_step", []),
                                             curve.get(column, [])) if x is not None
                      and y is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=preset)
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


def write_figures(study, rows, out_dir):
    """The study's PNGs; returns {figure name: file name} of those drawn."""
    figures = {}
    kl_panels = [("val_kl_utt", "KL of z_utt (CO: e), nats per word, validation")]
    if study.paper == "vhcr":
        kl_panels.append(("val_kl_conv", "KL of z_conv, nats per word, validation"))
    if plot_curves(rows, kl_panels, os.path.join(out_dir, "kl_over_training.png"),
                   "KL (nats / word)", title="KL of each latent over training ("
                   + ("VHCR Fig. 1, 4" if study.paper == "vhcr" else "as VHCR Fig. 1") + ")"):
        figures["kl"] = "kl_over_training.png"
    ratio_rows = {p: r for p, r in rows.items() if p.startswith(("vhred", "vhcr", "kla"))}
    if plot_curves(ratio_rows, [("val_prior_variance_ratio_utt",
                                 "z_utt prior: E[sigma^2] / Var(mu), validation")],
                   os.path.join(out_dir, "prior_variance_ratio.png"), "ratio", log_scale=True,
                   title="Prior variance ratio over training (VHCR Fig. 2)"):
        figures["ratio"] = "prior_variance_ratio.png"
    if plot_curves(rows, [("val_nll_bound", "NLL bound, nats per word, validation"),
                          ("val_context_gain", "context gain, nats per word, validation")],
                   os.path.join(out_dir, "nll_bound_over_training.png"), "nats / word"):
        figures["nll"] = "nll_bound_over_training.png"
    return figures


def copy_tsne(rows, runs_dir, out_dir):
    """CO Figure 3 PNGs of the rows that drew one, copied into results/."""
    names = {}
    for preset, row in rows.items():
        source = os.path.join(runs_dir, preset, "latent", "tsne.png")
        if row.get("latent") and os.path.isfile(source):
            names[preset] = f"tsne_{preset}.png"
            shutil.copyfile(source, os.path.join(out_dir, names[preset]))
    return names


def _setup_lines(name, study, state, rows):
    plan = state["plan"]
    first = state["rows"][next(iter(rows))]
    c, p = first["config"], first["paper_config"]
    m = c["model"]
    lines = [
        f"- Command: `python -m pipeline.study {name} --scale {plan['scale']}"
        + (f" --params_override {plan['params_override']}" if plan["params_override"] else "")
        + (f" --epochs {plan['epochs']}" if plan["epochs"] else "")
        + (f" --steps_per_epoch {plan['steps_per_epoch']}" if plan["steps_per_epoch"] else "")
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
        f"- Optimiser: Adam {c['train']['learning_rate']:g}, warm-up {c['train']['warmup_steps']}"
        f" steps, {c['train']['lr_decay']} decay; batch {c['data']['batch_size']}; "
        f"{c['train']['epochs']} epochs of {c['train']['steps_per_epoch'] or 'all'} steps; "
        f"early stopping patience {c['train']['early_stopping_patience']}; the `best` "
        f"checkpoint (validation bound) is evaluated.",
        f"- Paper scale for comparison: batch {p['data']['batch_size']}, Adam "
        f"{p['train']['learning_rate']:g}, {p['train']['epochs']} epochs "
        f"({first['paper_steps']} steps on this data), paper sizes, full softmax.",
        "", "| row | KL annealing steps (ours / paper scale) | scheduled sampling k (ours / "
        "paper scale) | train s | eval s |", "|---|---:|---:|---:|---:|"]
    for preset in rows:
        r = state["rows"][preset]
        mc, mp = r["config"]["model"], r["paper_config"]["model"]
        label = preset + (" (figure row)" if preset in study.figure_rows else "")
        lines.append(
            f"| {label} | {mc['kl_annealing_steps']} / {mp['kl_annealing_steps']} | "
            f"{mc['scheduled_sampling_steps']} / {mp['scheduled_sampling_steps']} | "
            f"{r.get('train_seconds', '-')} | {r.get('eval_seconds', '-')} |")
    total = sum(state["rows"][p].get(k, 0) for p in rows
                for k in ("train_seconds", "eval_seconds", "latent_seconds"))
    lines += ["", f"Wall time of the rows: {total / 60:.1f} minutes on this machine."]
    return lines


def write(name, study, state, runs_dir, out_dir, rows):
    """Collects every finished row and writes study.json, the PNGs and README.md."""
    os.makedirs(out_dir, exist_ok=True)
    loaded = {p: {**load_row(os.path.join(runs_dir, p)), "config": state["rows"][p]["config"]}
              for p in rows if "eval_seconds" in state["rows"].get(p, {})}
    figures = write_figures(study, loaded, out_dir)
    tsne = copy_tsne(loaded, runs_dir, out_dir)
    paper_numbers = report.load_paper_numbers()
    claims = study_claims.judge(study, loaded, paper_numbers)
    findings = study_claims.findings(study, loaded)
    results = {"study": name, "paper": study.paper, "dataset": study.dataset,
               "plan": state["plan"],
               "rows": {p: {"config": state["rows"][p]["config"],
                            "seconds": {k: state["rows"][p].get(k) for k in
                                        ("train_seconds", "eval_seconds", "latent_seconds")},
                            "likelihood": row["evaluation"]["likelihood"],
                            "responses": row["evaluation"]["responses"],
                            "curve": row["curve"], "latent": row["latent"]}
                        for p, row in loaded.items()},
               "references": next((r["evaluation"].get("references") for r in
                                   loaded.values()), None),
               "constant_response": next((r["evaluation"].get("constant_response") for r in
                                          loaded.values()), None),
               "findings": findings, "claims": claims, "figures": {**figures, **tsne}}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)

    paper_title = {"co": "Collaborative VED (Shen et al., AAAI 2018)",
                   "vhcr": "VHCR (Park et al., NAACL 2018)"}[study.paper]
    lines = [f"# Study `{name}`: {paper_title} on {study.dataset}, "
             f"{state['plan']['scale']} scale", "",
             f"Rows finished: {len(loaded)} of {len(rows)}"
             + ("" if len(loaded) == len(rows) else " (rerun the command to finish the rest)")
             + ". Every number below is in `results.json`.", "", "## Setup", "",
             *_setup_lines(name, study, state, rows), "", "## Findings", ""]
    lines += [f"- {f}" for f in findings] + ["", "## The paper's claims", "",
                                             "| claim | verdict | evidence | figure |",
                                             "|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c['claim']} | **{c['verdict']}** | {c['evidence']} | "
                     f"{c['figure'] or '-'} |")
    lines += ["", "## Tables (ours beside the paper's)", ""]
    runs = [(p, row["evaluation"]) for p, row in loaded.items()]
    for table in report.TABLES:
        if table.paper == f"{study.paper}_paper" and any(g for _, _, g in table.columns):
            lines += report.render_table(table, runs, paper_numbers, study.dataset)
    lines += ["## Figures", ""]
    captions = {"kl": "KL of each latent on validation batches at every epoch end",
                "ratio": "prior variance ratio E[sigma^2] / Var(mu) of z_utt (log scale)",
                "nll": "validation NLL bound, and the context gain (how much the bound "
                       "loses when a response is decoded from another response's context)"}
    for key, file in figures.items():
        lines += [f"![{captions[key]}]({file})", "", f"*{captions[key]}*", ""]
    for preset, file in tsne.items():
        lines += [f"![t-SNE {preset}]({file})", "",
                  f"*{preset}: t-SNE of 100 prior samples for one test context and 10 "
                  "posterior samples for each of its 10 nearest training contexts' responses "
                  "(CO Fig. 3)*", ""]
    path = os.path.join(out_dir, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
