"""Comparison tables across evaluated runs, in the layout of the papers' tables.

    python -m pipeline.report runs/hred runs/vhred runs/vhcr_ud [--split test]
    python -m pipeline.report co=runs/co_ss_seed2 runs/kla --paper_numbers numbers.yaml

Each RUN_DIR needs eval/<split>.json (python -m pipeline.evaluate). A run's row is named by
its preset (the folder name, or NAME=RUN_DIR), which places it in the tables it belongs
to: VHCR Table 1 (likelihood and KL), VHCR Tables 2-3 (embedding metrics, 1-turn and
3-turn), and CO Tables 1-2 (likelihood, BLEU, embedding metrics, distinct-n).

The papers' own numbers are printed beside ours from `--paper_numbers` (YAML; the layout
is `pipeline/paper_numbers.yaml`). That file ships with every cell empty: the numbers
must be copied from the papers' PDFs, which were not available where it was written, and
a cell is never filled from memory. Empty cells print as "-".
"""
import argparse
import json
import os
import sys

import yaml

PAPER_NUMBERS = os.path.join(os.path.dirname(__file__), "paper_numbers.yaml")
ROW_NAMES = {
    "hred": "HRED", "vhred": "VHRED", "vhred_wd": "VHRED + w.d.", "vhred_bow": "VHRED + bow",
    "vhcr_ud": "VHCR + u.d.", "kla": "KLA", "kla_do": "KLA+DO", "kla_bow": "KLA+BOW",
    "fb": "FB", "fb_all": "FB-all", "co": "CO", "co_do": "CO+DO", "co_ss": "CO+SS",
    "co_ss_joint": "CO+SS (joint)",
}
VHCR_ROWS = ("hred", "vhred", "vhred_wd", "vhred_bow", "vhcr_ud")
CO_ROWS = ("hred", "kla", "kla_do", "kla_bow", "fb", "fb_all", "co", "co_do", "co_ss",
           "co_ss_joint")
# (title, rows, paper table key, [(column, our value getter, paper cell key)])
TABLES = (
    ("VHCR Table 1: per-word NLL bound and KL", VHCR_ROWS, "vhcr_table1", (
        ("NLL", lambda r: r["likelihood"]["nll_bound"], "nll"),
        ("KL z_utt", lambda r: r["likelihood"].get("kl_utt"), "kl_utt"),
        ("KL z_conv", lambda r: r["likelihood"].get("kl_conv"), "kl_conv"))),
    ("VHCR Tables 2-3: embedding metrics, 1-turn (greedy decoding)", VHCR_ROWS,
     "vhcr_table2", tuple((name, lambda r, k=key: r["responses"]["greedy/1"][k], key)
                          for name, key in (("Average", "average"), ("Extrema", "extrema"),
                                            ("Greedy", "greedy")))),
    ("VHCR Tables 2-3: embedding metrics, 3-turn (greedy decoding)", VHCR_ROWS,
     "vhcr_table3", tuple((name, lambda r, k=key: r["responses"]["greedy/3"][k], key)
                          for name, key in (("Average", "average"), ("Extrema", "extrema"),
                                            ("Greedy", "greedy")))),
    ("CO Tables 1-2: likelihood and response quality (greedy, 1-turn)", CO_ROWS,
     "co_table", (
         ("NLL", lambda r: r["likelihood"]["nll_bound"], "nll"),
         ("KL", lambda r: r["likelihood"].get("kl_utt"), "kl"),
         ("BLEU", lambda r: r["responses"]["greedy/1"]["bleu"], "bleu"),
         ("Average", lambda r: r["responses"]["greedy/1"]["average"], "average"),
         ("Greedy", lambda r: r["responses"]["greedy/1"]["greedy"], "greedy"),
         ("Extrema", lambda r: r["responses"]["greedy/1"]["extrema"], "extrema"),
         ("distinct-1", lambda r: r["responses"]["greedy/1"]["distinct_1"], "distinct_1"),
         ("distinct-2", lambda r: r["responses"]["greedy/1"]["distinct_2"], "distinct_2"))),
)


def load_runs(specs, split):
    """[(preset, report)] from `RUN_DIR` or `PRESET=RUN_DIR` specs."""
    runs = []
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or os.path.basename(os.path.normpath(path))
        if name not in ROW_NAMES:
            raise ValueError(f"{spec}: {name!r} is not a preset ({', '.join(ROW_NAMES)}); "
                             f"name the run with PRESET=RUN_DIR")
        report_path = os.path.join(path, "eval", f"{split}.json")
        if not os.path.isfile(report_path):
            raise FileNotFoundError(f"{spec}: no {report_path}; run python -m "
                                    f"pipeline.evaluate --model_dir {path} --split {split}")
        with open(report_path, encoding="utf-8") as f:
            runs.append((name, json.load(f)))
    return runs


def dataset_of(report):
    """The corpus a run was evaluated on (which of the paper's columns it compares with)."""
    return report.get("corpus")


def _format(value):
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) >= 10 else f"{value:.4f}"


def _our_value(getter, report):
    try:
        return getter(report)
    except KeyError:  # e.g. a run evaluated without greedy decoding
        return None


def render(runs, paper_numbers):
    """The Markdown tables that have at least one of `runs` in their rows."""
    out = []
    for title, rows, table_key, columns in TABLES:
        members = [(name, report) for name, report in runs if name in rows]
        if not members:
            continue
        members.sort(key=lambda item: rows.index(item[0]))
        header = ["model", "data"] + [c[0] for c in columns] + [f"paper {c[0]}"
                                                                 for c in columns]
        out += [f"## {title}", "", "| " + " | ".join(header) + " |",
                "|---|---|" + "---:|" * (2 * len(columns))]
        for name, report in members:
            dataset = dataset_of(report)
            paper = (((paper_numbers.get(table_key) or {}).get(dataset) or {})
                     .get(ROW_NAMES[name]) or {})
            cells = [_format(_our_value(getter, report)) for _, getter, _ in columns]
            cells += [_format(paper.get(key)) for _, _, key in columns]
            out.append(f"| {ROW_NAMES[name]} | {dataset or '?'} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def load_paper_numbers(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="[PRESET=]RUN_DIR")
    parser.add_argument("--split", default="test")
    parser.add_argument("--paper_numbers", default=PAPER_NUMBERS)
    args = parser.parse_args(argv)
    try:
        text = render(load_runs(args.runs, args.split), load_paper_numbers(args.paper_numbers))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(text)


if __name__ == "__main__":
    main()
