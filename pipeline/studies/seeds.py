"""A study row trained with several seeds: their mean, each seed's own view of the study,
whether each seed converged, and a claim's verdict across seeds.

A claim is held only if it holds on the seeds' mean and on a majority of the seeds (one
seed is no evidence where KL collapse is bistable); the evidence says when seeds disagree.
A row trained once enters every seed's view with its one seed.
"""
import math
import os
from collections.abc import Callable, Iterable

from pipeline.studies.claims import HELD, NOT_HELD, NOT_MEASURABLE


def seed_dir(runs_dir: str, preset: str, seed: int) -> str:
    """Where one seed of a row trains: runs_dir/PRESET/seedN."""
    return os.path.join(runs_dir, preset, f"seed{seed}")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def mean_tree(trees: list) -> object:
    """The element-wise mean of same-shaped nested dicts: numbers averaged over the trees
    that have them, anything else taken from the first."""
    first = trees[0]
    if isinstance(first, dict):
        keys = list(first) + [k for t in trees[1:] if isinstance(t, dict) for k in t
                              if k not in first]
        return {k: mean_tree([t[k] for t in trees if isinstance(t, dict) and k in t])
                for k in dict.fromkeys(keys)}
    numbers = [t for t in trees if _is_number(t)]
    if numbers and len(numbers) == len(trees):
        return sum(numbers) / len(numbers)
    return first


def mean_curve(curves: list[dict[str, list]]) -> dict[str, list]:
    """Each column averaged over the seeds at the global steps every seed validated at
    (early stopping ends seeds at different steps: the mean curve ends with the first)."""
    if len(curves) == 1:
        return curves[0]
    by_step = []
    for curve in curves:
        steps = curve.get("global_step", [])
        by_step.append({s: i for i, s in enumerate(steps) if s is not None})
    common = sorted(set.intersection(*(set(b) for b in by_step)))
    out = {"global_step": list(common)}
    columns = set.intersection(*(set(c) for c in curves)) - {"global_step"}
    for column in sorted(columns):
        values = []
        for step in common:
            points = [c[column][b[step]] for c, b in zip(curves, by_step)]
            values.append(sum(points) / len(points) if all(_is_number(p) for p in points)
                          else None)
        out[column] = values
    return out


def mean_row(seed_rows: list[dict]) -> dict:
    """One row's seeds combined: evaluation numbers and curves averaged."""
    first = seed_rows[0]
    row = dict(first)
    row["evaluation"] = mean_tree([r["evaluation"] for r in seed_rows])
    row["curve"] = mean_curve([r["curve"] for r in seed_rows])
    if all(r.get("evaluation_udrop") for r in seed_rows):
        row["evaluation_udrop"] = mean_tree([r["evaluation_udrop"] for r in seed_rows])
    if all(r.get("latent") for r in seed_rows):
        row["latent"] = mean_tree([r["latent"] for r in seed_rows])
    return row


def views(rows_by_seed: dict[str, list[dict]]
          ) -> tuple[dict[str, dict], list[dict[str, dict]]]:
    """(mean view, [seed view 1, 2, ...]) of {preset: [row per seed]}: the mean view
    holds each row's mean; seed view k each row's k-th seed, or its last for a row trained
    fewer times."""
    count = max((len(seeds) for seeds in rows_by_seed.values()), default=0)
    mean = {p: mean_row(seeds) for p, seeds in rows_by_seed.items()}
    per_seed = [{p: seeds[min(k, len(seeds) - 1)] for p, seeds in rows_by_seed.items()}
                for k in range(count)]
    return mean, per_seed


def rows_used(on_mean: list[dict], judge: Callable[[dict], list[dict]], mean: dict[str, dict],
              candidates: Iterable[str]) -> list[set[str]]:
    """For each claim as judged on `mean` ({"verdict", "evidence"}), the rows among
    `candidates` it uses: those without which its verdict or evidence changes."""
    candidates = [p for p in candidates if p in mean]
    without = {p: judge({q: r for q, r in mean.items() if q != p}) for p in candidates}
    return [{p for p in candidates
             if (without[p][i]["verdict"], without[p][i]["evidence"])
             != (claim["verdict"], claim["evidence"])}
            for i, claim in enumerate(on_mean)]


def seeds_behind(used: set[str], loaded: dict[str, list[dict]], views: int) -> int:
    """How many distinct seed views a claim using the rows `used` has: its rows' most
    seeds (a row trained fewer times repeats its last seed in the other views); all
    `views` where it uses none."""
    return max((len(loaded[p]) for p in used), default=views)


def combine_verdicts(on_mean: str, on_seeds: list[str]) -> tuple[str, str]:
    """(verdict, note): held only if held on the mean and on a majority of seeds; one
    seed's verdict is the mean's, noted as one seed's."""
    if on_mean == NOT_MEASURABLE or not on_seeds:
        return on_mean, ""
    if len(on_seeds) == 1:
        return on_mean, "one seed"
    held = sum(v == HELD for v in on_seeds)
    verdict = HELD if on_mean == HELD and held > len(on_seeds) / 2 else NOT_HELD
    agree = len(set(on_seeds)) == 1
    note = (f"seeds: {', '.join(on_seeds)}" + ("" if agree else " (the seeds disagree)")
            + f"; on the mean: {on_mean}")
    return verdict, note


def judge_on_seeds(judge: Callable[[dict], list[dict]], loaded: dict[str, list[dict]]
                   ) -> list[dict]:
    """The claims `judge` gives on the seeds' mean of `loaded` ({row: [row per seed]}),
    each combined with its verdicts on the seeds of the rows it uses (`verdict_per_seed`,
    one per seed, not one per seed view: a claim about one-seed rows has one seed)."""
    mean, per_seed = views(loaded)
    claims = judge(mean)
    seed_claims = [judge(view) for view in per_seed]
    used = rows_used(claims, judge, mean, loaded)
    for i, claim in enumerate(claims):
        behind = seeds_behind(used[i], loaded, len(per_seed))
        on_seeds = [view[i]["verdict"] for view in seed_claims[:behind]]
        claim["verdict_on_mean"], claim["evidence_on_mean"] = claim["verdict"], claim["evidence"]
        claim["verdict_per_seed"] = on_seeds
        claim["verdict"], note = combine_verdicts(claim["verdict"], on_seeds)
        if note:
            claim["evidence"] += f" [{note}]"
    return claims


def converged(seed_rows: list[dict]) -> bool:
    """Whether every seed of a row ended by early stopping (not at the step cap)."""
    return all((r.get("finished") or {}).get("reason") == "early stopping"
               for r in seed_rows)


def unfinished_verdicts(claims: list[dict], judge: Callable[[dict], list[dict]],
                        mean: dict[str, dict], loaded: dict[str, list[dict]],
                        planned: dict[str, int] | None = None) -> list[dict]:
    """Marks "not measurable" every claim whose verdict rests on a row that did not
    converge, or that has fewer finished seeds than `planned` ({row: seeds}): a verdict
    counts only from models that finished learning, with the seeds where it can flip. A
    claim uses a row if judging it without that row changes its verdict or evidence."""
    why = {p: "did not converge (reached the step cap)" for p, seeds in loaded.items()
           if not converged(seeds)}
    for p, seeds in loaded.items():
        if p not in why and len(seeds) < (planned or {}).get(p, 0):
            why[p] = f"has {len(seeds)} of its {planned[p]} seeds so far"
    if not why:
        return claims
    on_mean = [{"verdict": c["verdict_on_mean"], "evidence": c["evidence_on_mean"]}
               for c in claims]
    for claim, uses in zip(claims, rows_used(on_mean, judge, mean, why)):
        if claim["verdict"] == NOT_MEASURABLE:
            continue
        used = sorted(uses)
        if used:
            claim["verdict_unconverged"] = claim["verdict"]
            claim["verdict"] = NOT_MEASURABLE
            claim["evidence"] = ("; ".join(f"{p} {why[p]}" for p in used)
                                 + ", so no verdict yet; measured as it stands: "
                                 f"{claim['verdict_unconverged']}: " + claim["evidence"])
    return claims


def steps_to_optimum(curve: dict[str, list], start_step: int = 0,
                     column: str = "val_nll_bound") -> tuple[float, float] | None:
    """(global step, value) of the best validation bound from `start_step` on, or None."""
    points = [(s, v) for s, v in zip(curve.get("global_step", []), curve.get(column, []))
              if _is_number(s) and _is_number(v) and s >= start_step]
    return min(points, key=lambda p: p[1]) if points else None
