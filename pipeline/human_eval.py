"""Blind human evaluation: export rating sheets from eval TSVs, import and score the ratings.

The evaluation tool writes one TSV per run and checkpoint,
`RUN_DIR/eval/<checkpoint>/<split>-<mode>-<turns>turn.tsv`
(columns id, context, gold, response; contexts joined with " __eou__ "). This module turns the
responses of several runs into an anonymised, shuffled sheet for raters and a separate key,
then unblinds the filled sheets into percentages with Wilson confidence intervals.

Two designs:
  co    the CO paper's questions: per item, all runs' responses as A, B, C...; raters name the
        most fluent, most coherent and most diverse/informative one (a letter, or "tie").
  vhcr  the VHCR paper's pairwise preference: exactly two runs as A/B; raters fill
        `preference` with A, B or tie; reported as wins/losses/ties of the first run.

Usage:
  python -m pipeline.human_eval export --runs runs/co_ss runs/vhcr [NAME=RUN_DIR ...] \\
      --out human/co_vs_vhcr [--split test] [--mode greedy] [--turns 1] \\
      [--design co|vhcr] [--items 100] [--seed 0] [--force]
  python -m pipeline.human_eval import --key human/co_vs_vhcr/key.json \\
      --ratings rater1.csv rater2.csv [--confidence 0.9] [--json]

`export` writes DIR/items.csv (give it to raters) and DIR/key.json (keep it from them).
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import csv
import json
import math
import os
import random
import statistics
import string
import sys
from collections.abc import Iterable, Iterator, Sequence

from pipeline.evaluation import eval_files
from pipeline.tables import markdown_table
from preprocessing.cli import ToolError

EOU = " __eou__ "
TSV_COLUMNS = ("id", "context", "gold", "response")
TIE = "tie"
ITEMS_FILE = "items.csv"
KEY_FILE = "key.json"
DESIGNS = {
    "co": ("fluency", "coherence", "diversity"),
    "vhcr": ("preference",),
}


class HumanEvalError(ToolError, ValueError):
    """Bad input to export or import; the message names the run, file, item or column."""


# ---------------------------------------------------------------------------- statistics

def wilson_interval(successes: int, n: int, confidence: float = 0.90) -> tuple[float, float]:
    """Wilson score interval for a proportion, as fractions in [0, 1].

    Wilson rather than the normal approximation because human-eval shares are often near
    0 or 1 and n is small, where p +- z*sqrt(p(1-p)/n) leaves [0, 1] or collapses to a point.
    """
    if n <= 0:
        raise ValueError("the Wilson interval needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def share_with_interval(count: int, n: int, confidence: float) -> dict:
    """One cell of a result table: count, percentage and interval in percent."""
    low, high = wilson_interval(count, n, confidence)
    return {"count": count, "percent": 100.0 * count / n, "ci": [100.0 * low, 100.0 * high]}


# ---------------------------------------------------------------------------- export

def parse_run_spec(spec: str) -> tuple[str, str]:
    """'NAME=RUN_DIR' or 'RUN_DIR' -> (name, run_dir); the name defaults to the basename."""
    name, sep, path = spec.partition("=")
    if sep and name and os.sep not in name and "/" not in name:
        run_dir = path
    else:
        name, run_dir = os.path.basename(os.path.normpath(spec)), spec
    if not name or not run_dir:
        raise HumanEvalError(f"cannot read a run name and directory from {spec!r}")
    return name, run_dir


def eval_tsv_path(run_dir: str, split: str, mode: str, turns: int, checkpoint: str = "best"
                  ) -> str:
    """Where the evaluation tool puts a run's responses."""
    return eval_files.tsv_path(run_dir, split, mode, turns, checkpoint)


def read_eval_tsv(name: str, path: str) -> dict[str, dict]:
    """{id: {"context", "gold", "response"}} from one run's eval TSV, checked row by row.

    Read with the csv module (tab delimiter, standard quoting: what csv.writer(f,
    delimiter="\t") writes). Strict, because tokenised text holds bare '"' tokens: a file
    written without quoting would otherwise be misread silently instead of failing.
    """
    if not os.path.isfile(path):
        raise HumanEvalError(
            f"run {name!r}: no eval file {path} (run the evaluation tool for this "
            f"split/mode/turns first)")
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", strict=True)
        try:
            return parse_eval_rows(name, path, reader)
        except csv.Error as e:
            raise HumanEvalError(
                f"run {name!r}: {path} line {reader.line_num}: {e} (quote fields as "
                f"csv.writer(f, delimiter='\\t') does)") from None


def parse_eval_rows(name: str, path: str, reader: Iterator[list[str]]) -> dict[str, dict]:
    """The rows behind read_eval_tsv: header, field count and unique ids checked."""
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != list(TSV_COLUMNS):
        raise HumanEvalError(
            f"run {name!r}: {path} must start with the header "
            f"{chr(9).join(TSV_COLUMNS)!r}, found {header!r}")
    examples = {}
    for row in reader:
        if not row:
            continue
        if len(row) != len(TSV_COLUMNS):
            raise HumanEvalError(
                f"run {name!r}: {path} line {reader.line_num} has {len(row)} fields, "
                f"expected {len(TSV_COLUMNS)}")
        example_id, context, gold, response = row
        if example_id in examples:
            raise HumanEvalError(f"run {name!r}: {path} repeats example id {example_id!r}")
        examples[example_id] = {"context": context, "gold": gold, "response": response}
    if not examples:
        raise HumanEvalError(f"run {name!r}: {path} holds no examples")
    return examples


def common_example_ids(examples_by_run: dict[str, dict[str, dict]]) -> list[str]:
    """Sorted ids present in every run; an error names the run that shares none.

    Sorted so that sampling with a seed does not depend on set iteration order.
    """
    names = list(examples_by_run)
    common = set(examples_by_run[names[0]])
    for name in names[1:]:
        ids = set(examples_by_run[name])
        if not common & ids:
            raise HumanEvalError(
                f"run {name!r} shares no example ids with the runs before it "
                f"({', '.join(repr(n) for n in names[:names.index(name)])}); were they "
                f"evaluated on the same data, split, mode and turns?")
        common &= ids
    return sorted(common)


def check_same_contexts(examples_by_run: dict[str, dict[str, dict]],
                        example_ids: Iterable[str]) -> None:
    """Runs must have been evaluated on the same contexts, or the comparison is meaningless."""
    names = list(examples_by_run)
    first = examples_by_run[names[0]]
    for name in names[1:]:
        for example_id in example_ids:
            if examples_by_run[name][example_id]["context"] != first[example_id]["context"]:
                raise HumanEvalError(
                    f"example {example_id!r} has a different context in run {name!r} than "
                    f"in run {names[0]!r}")


def check_systems(names: Sequence[str], design: str) -> None:
    """Enough runs for the design, unique names, and none that reads as an answer."""
    if design not in DESIGNS:
        raise HumanEvalError(f"unknown design {design!r}; choose one of {sorted(DESIGNS)}")
    if design == "vhcr" and len(names) != 2:
        raise HumanEvalError(f"the vhcr design compares exactly 2 runs, got {len(names)}")
    if not 2 <= len(names) <= len(string.ascii_uppercase):
        raise HumanEvalError(f"the co design needs 2 to 26 runs, got {len(names)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HumanEvalError(
            f"run names must differ, {duplicates} repeat; name them with NAME=RUN_DIR")
    if any(n.lower() == TIE for n in names):
        raise HumanEvalError(f"a run may not be named {TIE!r}; rename it with NAME=RUN_DIR")


def format_context(context: str) -> str:
    """One utterance per line, so raters see the turns rather than __eou__ markers."""
    return "\n".join(u.strip() for u in context.split(EOU.strip()) if u.strip())


def export_items(runs: Sequence[str | tuple[str, str]], out_dir: str, split: str = "test",
                 mode: str = "greedy", turns: int = 1, design: str = "co", items: int = 100,
                 seed: int = 0, force: bool = False, checkpoint: str = "best") -> dict:
    """Writes the blind sheet `out_dir/items.csv` and its key `out_dir/key.json`; returns the key.

    `runs` holds 'RUN_DIR' / 'NAME=RUN_DIR' strings or (name, run_dir) pairs. Items are a
    seeded sample of the ids common to all runs, and each item's letters are shuffled on
    their own, so position carries no hint of the system.
    """
    specs = [tuple(r) if isinstance(r, (tuple, list)) else parse_run_spec(r) for r in runs]
    names = [name for name, _ in specs]
    check_systems(names, design)
    if items < 1:
        raise HumanEvalError(f"--items must be at least 1, got {items}")
    items_path = os.path.join(out_dir, ITEMS_FILE)
    key_path = os.path.join(out_dir, KEY_FILE)
    if not force:
        for path in (items_path, key_path):
            if os.path.exists(path):
                raise HumanEvalError(
                    f"{path} exists; it may already be out with raters. Use --force to "
                    f"overwrite it")

    examples_by_run = {name: read_eval_tsv(name, eval_tsv_path(run_dir, split, mode, turns,
                                                               checkpoint))
                       for name, run_dir in specs}
    common = common_example_ids(examples_by_run)
    check_same_contexts(examples_by_run, common)

    rng = random.Random(seed)
    chosen = rng.sample(common, min(items, len(common)))
    letters = list(string.ascii_uppercase[:len(names)])
    questions = DESIGNS[design]
    rows, letter_maps, example_of_item = [], {}, {}
    for number, example_id in enumerate(chosen, start=1):
        item = str(number)
        order = rng.sample(names, len(names))
        letter_maps[item] = dict(zip(letters, order))
        example_of_item[item] = example_id
        context = examples_by_run[names[0]][example_id]["context"]
        responses = [examples_by_run[system][example_id]["response"] for system in order]
        rows.append([item, format_context(context)] + responses + [""] * len(questions))

    key = {
        "design": design, "split": split, "mode": mode, "turns": turns, "seed": seed,
        "systems": names, "questions": list(questions),
        "runs": {name: run_dir for name, run_dir in specs},
        "examples_per_run": {name: len(ex) for name, ex in examples_by_run.items()},
        "common_examples": len(common),
        "items": letter_maps,
        "examples": example_of_item,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(items_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item", "context"] + letters + list(questions))
        writer.writerows(rows)
    with open(key_path, "w", encoding="utf-8") as f:
        json.dump(key, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return key


# ---------------------------------------------------------------------------- import

def load_key(key_path: str) -> dict:
    """The unblinding key written by export_items."""
    try:
        with open(key_path, encoding="utf-8") as f:
            key = json.load(f)
    except FileNotFoundError:
        raise HumanEvalError(f"no key file {key_path}") from None
    except json.JSONDecodeError as e:
        raise HumanEvalError(f"{key_path} is not valid JSON: {e}") from None
    missing = [k for k in ("design", "systems", "questions", "items") if k not in key]
    if missing:
        raise HumanEvalError(f"{key_path} lacks {missing}; was it written by export?")
    return key


def parse_answer(raw: str, letters: Sequence[str], where: str) -> str:
    """A cell -> 'A'/'B'/... or 'tie' (case and whitespace ignored); `where` locates errors."""
    answer = (raw or "").strip()
    if not answer:
        raise HumanEvalError(f"{where}: blank answer; fill in one of {letters + [TIE]}")
    if answer.lower() == TIE:
        return TIE
    if answer.upper() in letters:
        return answer.upper()
    raise HumanEvalError(f"{where}: bad answer {raw!r}; expected one of {letters + [TIE]}")


def read_ratings(path: str, key: dict) -> list[tuple[dict, dict[str, str]]]:
    """[(item, {question: letter or 'tie'})] from one rater's filled copy of items.csv."""
    questions = key["questions"]
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise HumanEvalError(f"no ratings file {path}") from None
    with f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in ["item"] + questions if c not in header]
        if missing:
            raise HumanEvalError(f"{path}: missing column(s) {missing}")
        try:
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as e:
            raise HumanEvalError(f"{path} line {reader.line_num}: {e}") from None
        answers, seen = [], set()
        for line, row in rows:
            item = (row.get("item") or "").strip()
            if not item and not any((v or "").strip() for v in row.values()
                                    if isinstance(v, str)):
                continue  # a trailing empty line from a spreadsheet
            where = f"{path} line {line} (item {item!r})"
            if item not in key["items"]:
                raise HumanEvalError(f"{where}: unknown item, not in the key")
            if item in seen:
                raise HumanEvalError(f"{where}: item rated twice in this file")
            seen.add(item)
            letters = sorted(key["items"][item])
            answers.append((item, {q: parse_answer(row.get(q), letters,
                                                   f"{where}, column {q!r}")
                                   for q in questions}))
    if not answers:
        raise HumanEvalError(f"{path}: no rated items")
    return answers


def count_choices(answers: list[tuple[dict, dict[str, str]]], key: dict, question: str
                  ) -> dict[str, int]:
    """{system or 'tie': count} for one question, unblinding each letter through the key."""
    counts = {system: 0 for system in key["systems"]}
    counts[TIE] = 0
    for item, answer in answers:
        choice = answer[question]
        counts[TIE if choice == TIE else key["items"][item][choice]] += 1
    return counts


def import_ratings(key_path: str, ratings_paths: Sequence[str], confidence: float = 0.90
                   ) -> dict:
    """Unblinds and scores the raters' sheets; returns the result as a JSON-ready dict.

    Every answer of every rater counts once: the intervals treat answers as independent,
    which overstates precision somewhat when several raters judge the same items.
    """
    if not 0 < confidence < 1:
        raise HumanEvalError(f"confidence must be in (0, 1), got {confidence}")
    key = load_key(key_path)
    if isinstance(ratings_paths, (str, os.PathLike)):
        ratings_paths = [ratings_paths]
    if not ratings_paths:
        raise HumanEvalError("no ratings files given")
    resolved = [os.path.realpath(p) for p in ratings_paths]
    repeated = sorted({str(p) for p, r in zip(ratings_paths, resolved) if resolved.count(r) > 1})
    if repeated:
        raise HumanEvalError(f"ratings file(s) given twice: {repeated}")
    answers = [a for path in ratings_paths for a in read_ratings(path, key)]
    n = len(answers)
    result = {
        "design": key["design"], "systems": key["systems"],
        "split": key.get("split"), "mode": key.get("mode"), "turns": key.get("turns"),
        "confidence": confidence, "raters": len(ratings_paths),
        "items_rated": len({item for item, _ in answers}), "n": n, "questions": {},
    }
    for question in key["questions"]:
        counts = count_choices(answers, key, question)
        result["questions"][question] = {
            "n": n,
            "choices": {choice: share_with_interval(c, n, confidence)
                        for choice, c in counts.items()},
        }
    if key["design"] == "vhcr":
        system, opponent = key["systems"]
        choices = result["questions"]["preference"]["choices"]
        result["comparison"] = {"system": system, "opponent": opponent, "n": n,
                                "wins": choices[system], "losses": choices[opponent],
                                "ties": choices[TIE]}
    return result


# ---------------------------------------------------------------------------- report

def format_cell(share: dict) -> str:
    """'41.0% [35.2, 47.0]': the percentage and its interval, one decimal."""
    low, high = share["ci"]
    return f"{share['percent']:.1f}% [{low:.1f}, {high:.1f}]"


def format_markdown(result: dict) -> str:
    """The result as the papers lay it out: CO's per-question shares or VHCR's Table 4 row."""
    caption = (f"Human evaluation ({result['design']} design, split {result['split']}, "
               f"{result['mode']}, {result['turns']} turn(s)): {result['items_rated']} items, "
               f"{result['raters']} rater file(s), {result['n']} answers per question; "
               f"{100 * result['confidence']:g}% Wilson intervals.")
    if result["design"] == "vhcr":
        c = result["comparison"]
        table = markdown_table(
            ["comparison", "wins", "losses", "ties", "n"],
            [[f"{c['system']} vs {c['opponent']}", format_cell(c["wins"]),
              format_cell(c["losses"]), format_cell(c["ties"]), c["n"]]], "lllll")
    else:
        questions = list(result["questions"])
        rows = [[choice] + [format_cell(result["questions"][q]["choices"][choice])
                            for q in questions]
                for choice in result["systems"] + [TIE]]
        rows.append(["n"] + [result["questions"][q]["n"] for q in questions])
        table = markdown_table(["system"] + questions, rows, "l" * (1 + len(questions)))
    return caption + "\n\n" + "\n".join(table)


# ---------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m pipeline.human_eval` (export, import)."""
    parser = cli.base_parser("python -m pipeline.human_eval", __doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="write the blind rating sheet and its key")
    cli.add_verbose_flag(export)
    export.add_argument("--runs", nargs="+", required=True, metavar="[NAME=]RUN_DIR")
    export.add_argument("--out", required=True, metavar="DIR")
    export.add_argument("--split", default="test")
    export.add_argument("--mode", default="greedy")
    export.add_argument("--turns", type=int, default=1)
    export.add_argument("--checkpoint", default="best",
                        help="whose evaluation: best | last | backup | a checkpoint name")
    export.add_argument("--design", choices=sorted(DESIGNS), default="co")
    export.add_argument("--items", type=int, default=100)
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--force", action="store_true", help="overwrite an existing sheet")

    imp = commands.add_parser("import", help="unblind and score filled rating sheets")
    cli.add_verbose_flag(imp)
    imp.add_argument("--key", required=True, metavar="DIR/key.json")
    imp.add_argument("--ratings", nargs="+", required=True, metavar="RATINGS.csv")
    imp.add_argument("--confidence", type=float, default=0.90)
    imp.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser


def run(args: argparse.Namespace) -> None:
    """A parsed command line: export the blind sheet or import the ratings."""
    if args.command == "export":
        key = export_items(args.runs, args.out, split=args.split, mode=args.mode,
                           turns=args.turns, design=args.design, items=args.items,
                           seed=args.seed, force=args.force, checkpoint=args.checkpoint)
        print(f"wrote {len(key['items'])} items ({key['common_examples']} examples common "
              f"to {', '.join(key['systems'])}) to {os.path.join(args.out, ITEMS_FILE)}; "
              f"key in {os.path.join(args.out, KEY_FILE)} (keep it from the raters)")
    else:
        result = import_ratings(args.key, args.ratings, confidence=args.confidence)
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json
              else format_markdown(result))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 on bad input, with the reason on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        cli.run_tool(lambda: run(args))
    except SystemExit as e:
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
