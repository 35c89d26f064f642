"""Every table of both papers, ours beside the papers' published numbers.

    python -m pipeline.report runs/hred runs/vhred runs/vhcr_ud [--split test]
    python -m pipeline.report co_ss=runs/co_ss_seed2 runs/kla --checkpoint last

Each RUN_DIR needs eval/<checkpoint>/<split>.json (python -m pipeline.evaluate). A run's
row is named by its preset (the folder name, or PRESET=RUN_DIR), which places it in the
paper rows it belongs to. Every table of both papers is printed in the paper's layout and
units, all its rows in the paper's order, "-" where we have no run (or the paper has no
figure). The papers' numbers come from `paper_numbers.yaml` (a copy of
`../shared/papers/tables.yaml`); where a run's corpus is not one of the paper's, the
paper's first corpus is printed for reference and named in the header. Response tables
end with the three reference responders measured on the same contexts as the runs.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import json
import os
from collections import defaultdict
from collections.abc import Sequence

import yaml

from pipeline import configs
from pipeline.evaluation import eval_files
from pipeline.tables import markdown_table

PAPER_NUMBERS = os.path.join(os.path.dirname(__file__), "paper_numbers.yaml")
REFERENCE_NAMES = {"constant": "*constant reply*", "random_gold": "*random gold reply*",
                   "retrieval": "*retrieval reply*"}

# Preset -> the paper's row name, per paper table family (configs holds both).
CO_ROWS = {p: configs.ROW_NAMES[p] for p in configs.TABLE_ROWS["co"]}
VHCR_ROWS = {p: configs.ROW_NAMES[p] for p in configs.TABLE_ROWS["vhcr"]}
VHCR_KL_ROWS = {"vhred_wd": "VHRED", "vhcr_ud": "VHCR"}  # Table 2: VHRED+w.d. vs VHCR+u.d.
PRESETS = sorted(set(CO_ROWS) | set(VHCR_ROWS))


def _lik(key):
    return lambda r: r["likelihood"].get(key)


def _kl_total(r):
    lik = r["likelihood"]
    parts = [lik[k] for k in ("kl_utt", "kl_conv") if k in lik]
    return sum(parts) if parts else None


def _response(key, metric):
    return lambda r: r["responses"].get(key, {}).get(metric)


class Table:
    """One published table: its paper rows, the paper's columns (name, paper key, our
    value), our extra columns (figures the paper lacks), and the response key whose
    reference responders close it."""

    def __init__(self, title: str, paper: str, key: str, rows: Sequence[str],
                 columns: Sequence[tuple], extra: Sequence[tuple] = (),
                 responses: str | None = None, sub: str | None = None, note: str = "") -> None:
        self.title, self.paper, self.key, self.rows = title, paper, key, rows
        self.columns, self.extra, self.responses, self.sub = columns, extra, responses, sub
        self.note = note


def _embedding(key, order):
    return tuple((name.capitalize(), name, _response(key, name)) for name in order)


TABLES = (
    Table("CO Table 1: PPL, KL per response, NLL summed per 80-word slice (ELBO for "
          "latent models)", "co_paper", "table1_likelihood", CO_ROWS,
          (("PPL", "ppl", _lik("ppl")), ("KL", "kl", _lik("kl_per_response")),
           ("NLL", "nll", _lik("nll_bound_per_slice"))),
          extra=(("NLL / word", _lik("nll_bound")), ("IW NLL / slice", _lik("iw_nll_per_slice"))),
          note="IW: importance-weighted estimate of -log p(x | c) (evaluate --iw_samples); "
               "exact for HRED."),
    Table("CO Table 2: embedding metrics of beam-5 responses", "co_paper",
          "table2_embedding", CO_ROWS, _embedding("beam/1", ("average", "greedy", "extrema")),
          responses="1"),
    Table("CO Table 4: human evaluation, % judged best", "co_paper", "table4_human", CO_ROWS,
          tuple((c.capitalize(), c, None) for c in ("fluent", "coherent", "diverse")),
          note="Human judgements: ours come from `python -m pipeline.human_eval`, not from "
               "this report."),
    Table("VHCR Table 1: per-word NLL bound = reconstruction + KL", "vhcr_paper",
          "table1_likelihood", VHCR_ROWS,
          (("NLL", "nll", _lik("nll_bound")), ("recon", "recon", _lik("nll")),
           ("KL", "kl", _kl_total)),
          extra=(("IW NLL", _lik("iw_nll")),),
          note="IW: importance-weighted estimate of -log p(x | c) per word (evaluate "
               "--iw_samples); exact for HRED."),
    Table("VHCR Table 2: per-word KL of VHRED + w.d. and VHCR + u.d.", "vhcr_paper",
          "table2_kl_split", VHCR_KL_ROWS,
          (("total", "total", _kl_total), ("z_conv", "z_conv", _lik("kl_conv")),
           ("z_utt", "z_utt", _lik("kl_utt")))),
    Table("VHCR Table 3: embedding metrics of greedy responses, 1-turn", "vhcr_paper",
          "table3_embedding", VHCR_ROWS,
          _embedding("greedy/1", ("average", "extrema", "greedy")), responses="1",
          sub="1-turn"),
    Table("VHCR Table 3: embedding metrics of greedy responses, 3-turn", "vhcr_paper",
          "table3_embedding", VHCR_ROWS,
          _embedding("greedy/3", ("average", "extrema", "greedy")), responses="3",
          sub="3-turn"),
    Table("VHCR Table 4: human evaluation, VHCR against each model (% wins / losses / "
          "ties, 90% interval)", "vhcr_paper", "table4_human", VHCR_ROWS,
          tuple((c.capitalize(), c, None) for c in ("wins", "losses", "ties")),
          note="Human judgements: ours come from `python -m pipeline.human_eval`, not from "
               "this report."),
)


def load_runs(specs: Sequence[str], split: str, checkpoint: str = "best"
              ) -> list[tuple[str, dict]]:
    """[(preset, report)] from `RUN_DIR` or `PRESET=RUN_DIR` specs."""
    runs = []
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or os.path.basename(os.path.normpath(path))
        if name not in PRESETS:
            raise ValueError(f"{spec}: {name!r} is not a preset ({', '.join(PRESETS)}); "
                             f"name the run with PRESET=RUN_DIR")
        report_path = eval_files.report_path(path, split, checkpoint)
        if not os.path.isfile(report_path):
            raise FileNotFoundError(
                f"{spec}: no {report_path}; run python -m pipeline.evaluate --model_dir "
                f"{path} --split {split} --checkpoint {checkpoint}")
        with open(report_path, encoding="utf-8") as f:
            runs.append((name, json.load(f)))
    return runs


def load_paper_numbers(path: str = PAPER_NUMBERS) -> dict:
    """The papers' published figures (pipeline/paper_numbers.yaml, or `path`)."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def _format(value):
    if value is None:
        return "-"
    if isinstance(value, int):  # the human-evaluation percentages
        return str(value)
    if isinstance(value, (list, tuple)):  # (share, 90% interval half-width)
        return f"{value[0]:.1f} ± {value[1]:.1f}"
    return f"{value:.2f}" if abs(value) >= 10 else f"{value:.3f}"


def _paper_cells(table, paper_numbers, corpus):
    """(the corpus whose figures are shown, {paper row: {column: value}})."""
    published = paper_numbers.get(table.paper, {}).get(table.key, {})
    corpora = [k for k in published if k != "columns"]
    shown = corpus if corpus in corpora else (corpora[0] if corpora else None)
    cells = published.get(shown, {}) if shown else {}
    if table.sub:
        cells = cells.get(table.sub, {})
    return shown, cells


def render_table(table: Table, runs: list[tuple[str, dict]], paper_numbers: dict,
                 corpus: str) -> list[str]:
    """Markdown for one table: every paper row, ours then the paper's columns."""
    shown, paper = _paper_cells(table, paper_numbers, corpus)
    ours = {}
    for preset, report in runs:
        if preset in table.rows:
            row = table.rows[preset]
            if row in ours:
                raise ValueError(f"two runs for the row {row!r} on {corpus}; give one")
            ours[row] = report
    computable = any(getter for _, _, getter in table.columns)
    header = ["model"]
    if computable:
        header += [f"{name} (ours)" for name, _, _ in table.columns]
    header += [f"{name} (paper{'' if shown == corpus else ', ' + str(shown)})"
               for name, _, _ in table.columns]
    header += [f"{name} (ours)" for name, _ in table.extra]
    cells = []
    for row in dict.fromkeys(list(table.rows.values()) + list(paper)):
        report = ours.get(row)
        line = [row]
        if computable:
            line += [_format(getter(report) if report else None)
                     for _, _, getter in table.columns]
        line += [_format((paper.get(row) or {}).get(key)) for _, key, _ in table.columns]
        line += [_format(getter(report) if report else None) for _, getter in table.extra]
        cells.append(line)
    references, note = _reference_rows(table, list(ours.values()), len(header))
    lines = [f"### {table.title}", "", *markdown_table(header, cells + references), *note]
    if table.note:
        lines += ["", table.note]
    return lines + [""]


def _reference_rows(table, reports, width):
    """The rows of the reference responders of the first run that has them for this
    table, and the lines of a note below the table when runs answered other contexts."""
    if not table.responses:
        return [], []
    with_refs = [r for r in reports if table.responses in r.get("references", {})]
    if not with_refs:
        return [], []
    refs = with_refs[0]["references"][table.responses]
    rows, lines = [], []
    for name, label in REFERENCE_NAMES.items():
        metrics = refs.get(name)
        if metrics is None:
            continue
        cells = [label] + [_format(metrics.get(key)) for _, key, _ in table.columns]
        rows.append(cells + ["-"] * (width - len(cells)))
    ids = {r["references"][table.responses]["constant"].get("contexts_id") for r in with_refs}
    if len(ids) > 1:
        lines.append("")
        lines.append("Runs answered different contexts (e.g. another --max_examples); the "
                     "reference rows are the first run's.")
    return rows, lines


def render(runs: list[tuple[str, dict]], paper_numbers: dict) -> str:
    """Every table of both papers, one block per corpus the runs were evaluated on."""
    by_corpus = defaultdict(list)
    for preset, report in runs:
        by_corpus[report.get("corpus") or "?"].append((preset, report))
    out = []
    for corpus, members in by_corpus.items():
        out += [f"## {corpus}: {', '.join(p for p, _ in members)}", ""]
        for table in TABLES:
            out += render_table(table, members, paper_numbers, corpus)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.base_parser("python -m pipeline.report", __doc__)
    parser.add_argument("runs", nargs="+", metavar="[PRESET=]RUN_DIR")
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", default="best",
                        help="whose evaluation to report: best | last | backup | a name")
    parser.add_argument("--paper_numbers", default=PAPER_NUMBERS)
    args = parser.parse_args(argv)
    cli.run_tool(lambda: print(render(load_runs(args.runs, args.split, args.checkpoint),
                                      load_paper_numbers(args.paper_numbers))),
                 errors=(ValueError,))


if __name__ == "__main__":
    main()
