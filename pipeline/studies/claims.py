"""Each qualitative claim of a paper (tables.yaml `qualitative_claims`) judged from a study's
rows: held, not held, or not measurable, with the numbers and the figure that decide it.

Every test is fixed here before any run, written from the claim's wording; a claim is
never re-read to suit a result. A claim without a test here is "not measurable".
"""
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.configs import ROW_NAMES, TABLE_ROWS

if TYPE_CHECKING:  # a type name only: pipeline.study imports this module
    from pipeline.study import Study

HELD, NOT_HELD, NOT_MEASURABLE = "held", "not held", "not measurable"
VANISHED_SHARE = 0.5  # "KL vanishes / falls": the last value below this share of the peak
CLEARLY_ABOVE_ZERO = 0.01  # nats per word: the training monitor's collapse threshold
POINT_MASSES = 1.0  # Fig. 2's ratio "falls to zero": within-prior variance < between-prior
Verdict = tuple[str, str, "str | None"]  # (verdict, evidence, the figure that shows it)


class Rows:
    """Accessors over the loaded rows of a study."""

    def __init__(self, rows: dict[str, dict]) -> None:
        self.rows = rows

    def has(self, *presets: str) -> bool:
        return all(p in self.rows for p in presets)

    def lik(self, preset: str, key: str) -> float | None:
        return self.rows[preset]["evaluation"]["likelihood"].get(key)

    def curve(self, preset: str, column: str) -> list[tuple[float, float]]:
        """[(step, value)] of a training-log column with both values present."""
        curve = self.rows[preset]["curve"]
        return [(s, v) for s, v in zip(curve.get("global_step", []), curve.get(column, []))
                if s is not None and v is not None]

    def response(self, preset: str, key: str, metric: str) -> float | None:
        return self.rows[preset]["evaluation"]["responses"].get(key, {}).get(metric)


def _name(preset):
    return ROW_NAMES.get(preset, preset)


def _ordering(rows, presets, key, digits=2):
    present = sorted((p for p in presets if rows.has(p) and rows.lik(p, key) is not None),
                     key=lambda p: rows.lik(p, key))
    return present, ", ".join(f"{_name(p)} {rows.lik(p, key):.{digits}f}" for p in present)


def _verdict(condition):
    return HELD if condition else NOT_HELD


def _missing(*presets):
    return NOT_MEASURABLE, f"needs the rows {', '.join(map(_name, presets))}", None


def _vanishing(rows, preset, column="val_kl_utt"):
    """(peak step, peak, last step, last) of a KL curve, or None."""
    points = rows.curve(preset, column)
    if not points:
        return None
    peak_step, peak = max(points, key=lambda p: p[1])
    return peak_step, peak, points[-1][0], points[-1][1]


# ----- CO paper ------------------------------------------------------------------------
def co_lowest_nll(rows: Rows) -> Verdict:
    present, text = _ordering(rows, TABLE_ROWS["co"], "nll_bound_per_slice")
    if "co_ss" not in present or len(present) < 2:
        return _missing("co_ss")
    return (_verdict(present[0] == "co_ss"),
            f"NLL bound per slice, lowest first: {text} (on this dataset only)", "tables")


def co_word_drop(rows: Rows) -> Verdict:
    if not rows.has("kla", "kla_do", "co", "co_do"):
        return _missing("kla", "kla_do", "co", "co_do")
    nll = lambda p: rows.lik(p, "nll_bound_per_slice")  # noqa: E731
    return (_verdict(nll("kla_do") < nll("kla") and nll("co_do") < nll("co")),
            f"NLL per slice: KLA {nll('kla'):.2f} -> KLA+DO {nll('kla_do'):.2f}; CO "
            f"{nll('co'):.2f} -> CO+DO {nll('co_do'):.2f}", "tables")


def co_kla_needs_early_stop(rows: Rows) -> Verdict:
    if not rows.has("kla"):
        return _missing("kla")
    ramp = rows.rows["kla"]["config"]["model"]["kl_annealing_steps"] if "config" in \
        rows.rows["kla"] else None
    shape = _vanishing(rows, "kla")
    weights = rows.curve("kla", "kl_weight")
    if shape is None or not weights or weights[-1][1] < 0.999:
        return (NOT_MEASURABLE, "the KL weight never reached 1 in this run"
                + (f" (ramp {ramp} steps)" if ramp else ""), "kl_over_training.png")
    peak_step, peak, last_step, last = shape
    return (_verdict(last < VANISHED_SHARE * peak),
            f"KLA's validation KL: peak {peak:.4f} nats/word at step {peak_step:.0f}, "
            f"{last:.4f} at the end (step {last_step:.0f}); held if the end is below "
            f"{VANISHED_SHARE:.0%} of the peak", "kl_over_training.png")


def co_bow(rows: Rows) -> Verdict:
    if not rows.has("kla", "kla_bow"):
        return _missing("kla", "kla_bow")
    others = [p for p in ("kla", "kla_do") if rows.has(p)]
    kl = lambda p: rows.lik(p, "kl_per_response")  # noqa: E731
    nll = lambda p: rows.lik(p, "nll_bound_per_slice")  # noqa: E731
    larger = all(kl("kla_bow") > kl(p) for p in others)
    return (_verdict(larger and nll("kla_bow") > nll("kla")),
            f"KL per response: KLA+BOW {kl('kla_bow'):.2f} vs "
            + ", ".join(f"{_name(p)} {kl(p):.2f}" for p in others)
            + f"; NLL per slice: KLA+BOW {nll('kla_bow'):.2f} vs KLA {nll('kla'):.2f}",
            "tables")


def co_fb_all(rows: Rows) -> Verdict:
    if not rows.has("fb", "fb_all"):
        return _missing("fb", "fb_all")
    nll = lambda p: rows.lik(p, "nll_bound_per_slice")  # noqa: E731
    return (_verdict(nll("fb_all") < nll("fb")),
            f"NLL per slice: FB-all {nll('fb_all'):.2f}, FB {nll('fb'):.2f} "
            f"(difference {nll('fb') - nll('fb_all'):+.2f}; held if FB-all is lower)", "tables")


def co_joint(rows: Rows) -> Verdict:
    if not rows.has("co_ss", "co_ss_joint"):
        return _missing("co_ss", "co_ss_joint")
    ppl = lambda p: rows.lik(p, "ppl")  # noqa: E731
    kl = lambda p: rows.lik(p, "kl_per_response")  # noqa: E731
    return (_verdict(ppl("co_ss_joint") > ppl("co_ss")),
            f"PPL: joint {ppl('co_ss_joint'):.1f}, alternating {ppl('co_ss'):.1f}; KL per "
            f"response: joint {kl('co_ss_joint'):.2f}, alternating {kl('co_ss'):.2f} (the "
            "paper's joint KL is also higher, 5.16 vs 4.92; judged on PPL)", "tables")


def co_tsne(rows: Rows) -> Verdict:
    if not rows.has("co_ss", "kla") or not (rows.rows["co_ss"].get("latent")
                                             and rows.rows["kla"].get("latent")):
        return _missing("co_ss", "kla")
    acc = {p: rows.rows[p]["latent"]["nn_separability"] for p in ("co_ss", "kla")}
    return (_verdict(acc["co_ss"] < acc["kla"]),
            "overlap measured in the latent space (not the 2-D map) by a leave-one-out "
            "1-nearest-neighbour test telling prior from posterior samples (0.5 = fully "
            f"mixed, 1.0 = apart): CO+SS {acc['co_ss']:.2f}, VHRED (KLA) {acc['kla']:.2f}; "
            "held if CO+SS's is lower. \"More modes\" is read from the figures, not "
            "measured", "tsne_co_ss.png, tsne_kla.png")


# ----- VHCR paper ----------------------------------------------------------------------
VHCR_ROWS = TABLE_ROWS["vhcr"]


def vhcr_hred_lowest(rows: Rows) -> Verdict:
    present, text = _ordering(rows, VHCR_ROWS, "nll_bound", 4)
    if "hred" not in present or len(present) < 2:
        return _missing("hred")
    return (_verdict(present[0] == "hred"),
            f"per-word NLL (bound), lowest first: {text}", "tables")


def vhcr_vhred_kl_falls(rows: Rows) -> Verdict:
    preset = "vhred_wd" if rows.has("vhred_wd") else "vhred"
    if not rows.has(preset):
        return _missing("vhred_wd")
    shape = _vanishing(rows, preset)
    if shape is None:
        return NOT_MEASURABLE, "no KL curve in the training log", None
    peak_step, peak, last_step, last = shape
    return (_verdict(last < VANISHED_SHARE * peak),
            f"{_name(preset)} validation KL: peak {peak:.4f} nats/word at step "
            f"{peak_step:.0f}, {last:.4f} at the end (step {last_step:.0f}); held if the end "
            f"is below {VANISHED_SHARE:.0%} of the peak", "kl_over_training.png")


def _ratio_text(rows, preset):
    points = rows.curve(preset, "val_prior_variance_ratio_utt")
    if len(points) < 2:
        return None, None
    first, last = points[0][1], points[-1][1]
    peak = max(v for _, v in points)
    return (last < first and last < VANISHED_SHARE * peak and last < POINT_MASSES,
            f"{_name(preset)}'s E[sigma^2]/Var(mu): {first:.3g} at step {points[0][0]:.0f}, "
            f"peak {peak:.3g}, {last:.3g} at the end (step {points[-1][0]:.0f})")


def vhcr_ratio_falls(rows: Rows) -> Verdict:
    """Fig. 2 is measured on VHRED whose decoder sees z_utt only (the paper's Eq. 13);
    the plain VHRED's ratio is given beside it."""
    if not rows.has("vhred_zonly"):
        return _missing("vhred_zonly")
    falls, text = _ratio_text(rows, "vhred_zonly")
    if text is None:
        return NOT_MEASURABLE, "fewer than two points of the ratio", None
    beside = _ratio_text(rows, "vhred")[1] if rows.has("vhred") else None
    return (_verdict(falls),
            f"{text}; held if the end is below the start, below {VANISHED_SHARE:.0%} of "
            f"the peak and below {POINT_MASSES} (\"falls to zero\": the priors' own "
            "variance smaller than the spread of their means, towards point masses)"
            + (f" (for reference, with the context in the decoder: {beside})"
                          if beside else ""), "prior_variance_ratio.png")


def _late_kl(rows, preset, column):
    """The lowest validation KL over the second half of training, or None."""
    points = rows.curve(preset, column)
    late = [v for _, v in points[len(points) // 2:]]
    return min(late) if late else None


def _total_curve(rows, preset, columns):
    """[(step, sum of the columns)] at the steps where every column has a value."""
    curves = [dict(rows.curve(preset, c)) for c in columns]
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    return [(step, sum(c[step] for c in curves)) for step in steps]


def vhcr_ud_keeps_kl(rows: Rows) -> Verdict:
    """Fig. 4: VHRED + u.d.'s KL vanishes (below half its peak at the end); VHCR + u.d.'s
    total KL (z_utt + z_conv) is high and stable: clearly above 0 over the second half of
    training and, at the end, at least half its peak (the vanishing rule's negation)."""
    if not rows.has("vhred_ud", "vhcr_ud"):
        return _missing("vhred_ud", "vhcr_ud")
    shape = _vanishing(rows, "vhred_ud")
    total = _total_curve(rows, "vhcr_ud", ("val_kl_utt", "val_kl_conv"))
    utt, conv = (_late_kl(rows, "vhcr_ud", c) for c in ("val_kl_utt", "val_kl_conv"))
    if shape is None or not total or utt is None or conv is None:
        return NOT_MEASURABLE, "no KL curves in the training logs", None
    peak_step, peak, last_step, last = shape
    vanishes = last < VANISHED_SHARE * peak
    total_peak_step, total_peak = max(total, key=lambda p: p[1])
    total_last = total[-1][1]
    high = utt + conv > CLEARLY_ABOVE_ZERO
    stable = total_last >= VANISHED_SHARE * total_peak
    return (_verdict(vanishes and high and stable),
            f"VHRED + u.d. validation KL: peak {peak:.4f} nats/word at step {peak_step:.0f}, "
            f"{last:.4f} at the end ({'below' if vanishes else 'not below'} half its peak); "
            f"VHCR + u.d. total KL: peak {total_peak:.4f} at step {total_peak_step:.0f}, "
            f"{total_last:.4f} at the end ({'at least' if stable else 'below'} half its "
            f"peak), over the second half z_utt >= {utt:.4f}, z_conv >= {conv:.4f} "
            f"nats/word (held if VHRED's end is below {VANISHED_SHARE:.0%} of its peak, and "
            f"VHCR's total stays above {CLEARLY_ABOVE_ZERO} and ends at or above "
            f"{VANISHED_SHARE:.0%} of its peak)", "kl_over_training.png")


def vhcr_both_latents(rows: Rows) -> Verdict:
    if not rows.has("vhcr_ud"):
        return _missing("vhcr_ud")
    conv, utt = rows.lik("vhcr_ud", "kl_conv"), rows.lik("vhcr_ud", "kl_utt")
    return (_verdict(conv > CLEARLY_ABOVE_ZERO and utt > CLEARLY_ABOVE_ZERO),
            f"test KL per word: z_conv {conv:.4f}, z_utt {utt:.4f} (held if both > "
            f"{CLEARLY_ABOVE_ZERO}; paper Cornell 0.189 / 0.314)", "tables")


def vhcr_embedding_best(rows: Rows) -> Verdict:
    present = [p for p in VHCR_ROWS if rows.has(p)]
    if "vhcr_ud" not in present or len(present) < 2:
        return _missing("vhcr_ud")
    wins, columns = 0, 0
    for key in ("greedy/1", "greedy/3"):
        for metric in ("average", "extrema", "greedy"):
            scores = {p: rows.response(p, key, metric) for p in present}
            if any(v is None for v in scores.values()):
                continue
            columns += 1
            wins += max(scores, key=scores.get) == "vhcr_ud"
    if not columns:
        return NOT_MEASURABLE, "no greedy responses evaluated", None
    return (_verdict(wins > columns / 2),
            f"VHCR + u.d. is best on {wins} of {columns} columns (greedy, 1- and 3-turn)",
            "tables")


def not_measured(reason: str) -> Callable[[Rows], Verdict]:
    """The check of a claim no number can decide: always not measurable, for `reason`."""
    return lambda rows: (NOT_MEASURABLE, reason, None)


# Claim text (its start, as in tables.yaml) -> test.
CHECKS = {
    "CO+SS has the lowest NLL": co_lowest_nll,
    "word drop improves both KLA and CO": co_word_drop,
    "KLA alone needs early stopping": co_kla_needs_early_stop,
    "KLA+BOW keeps a large KL": co_bow,
    "FB-all is much better than FB": co_fb_all,
    "joint training of both phases is worse": co_joint,
    "t-SNE of 100 prior and 100 posterior": co_tsne,
    "HRED has the lowest NLL": vhcr_hred_lowest,
    "VHRED's KL decreases towards zero": vhcr_vhred_kl_falls,
    "the prior variance ratio": vhcr_ratio_falls,
    "utterance drop on VHRED does not stop": vhcr_ud_keeps_kl,
    "VHCR uses both latents": vhcr_both_latents,
    "VHCR + u.d. has the best embedding": vhcr_embedding_best,
    "z_conv interpolation": not_measured(
        "a judgement of tone, read from `python -m pipeline.latent interpolate` and "
        "`fixed_zconv` outputs, not a number"),
}


def judge(study: "Study", rows: dict[str, dict], paper_numbers: dict) -> list[dict]:
    """[{claim, verdict, evidence, figure}] for every claim of the study's paper."""
    out = []
    accessor = Rows(rows)
    for claim in paper_numbers[f"{study.paper}_paper"].get("qualitative_claims", []):
        check = next((f for start, f in CHECKS.items() if claim.startswith(start)), None)
        verdict, evidence, figure = (check(accessor) if check else
                                     (NOT_MEASURABLE, "no test for this claim", None))
        out.append({"claim": claim, "verdict": verdict, "evidence": evidence,
                    "figure": figure})
    return out


CO_ROWS = ("co", "co_do", "co_ss", "co_ss_joint")


def _co_alpha_binds(rows: Rows, preset: str) -> str | None:
    """Whether CO's max(alpha, KL) was the floor alpha (no KL gradient reaches the AE
    phase) or the KL itself, validation by validation: the earlier study's KL never
    reached alpha, so the term never acted."""
    alpha = rows.rows[preset].get("config", {}).get("model", {}).get("co_alpha")
    points = rows.curve(preset, "val_kl_response")
    if alpha is None or not points:
        return None
    above = [s for s, v in points if v > alpha]
    return (f"{_name(preset)}: validation KL per response went from {points[0][1]:.2f} "
            f"(step {points[0][0]:.0f}) to {points[-1][1]:.2f} (step {points[-1][0]:.0f}), "
            f"peak {max(v for _, v in points):.2f}, against alpha = {alpha:g}: max(alpha, KL) "
            + (f"was the KL (it acted on the AE) at {len(above)} of {len(points)} "
               f"validations, first at step {above[0]:.0f}." if above else
               "was alpha at every validation, so the AE phase never received a KL "
               "gradient."))


def findings(study: "Study", rows: dict[str, dict]) -> list[str]:
    """The figures every study states (HRED's KL, KL at the end, variance ratio, whether
    CO's max(alpha, KL) acted, NLL ordering), as sentences."""
    r = Rows(rows)
    out = []
    if r.has("hred"):
        kl = [v for _, v in r.curve("hred", "val_kl_utt")]
        out.append("HRED has no latent variable: its KL is 0 (training log "
                   f"{'all 0' if kl and not any(kl) else kl}), and its bound is its exact NLL.")
    for preset in rows:  # every row with one latent (VHCR's two: below)
        shape = _vanishing(r, preset) if preset not in ("hred", "vhcr_ud") else None
        if shape:
            out.append(f"{_name(preset)}: validation KL of its latent peaked at "
                       f"{shape[1]:.4f} nats/word (step {shape[0]:.0f}) and ended at "
                       f"{shape[3]:.4f} (step {shape[2]:.0f}); test KL "
                       f"{r.lik(preset, 'kl_utt'):.4f} nats/word.")
    for preset in ("vhred", "vhred_zonly", "kla"):
        points = r.curve(preset, "val_prior_variance_ratio_utt") if r.has(preset) else []
        if len(points) >= 2:
            trend = "fell" if points[-1][1] < points[0][1] else "rose"
            out.append(f"{_name(preset)}: prior variance ratio {trend} from "
                       f"{points[0][1]:.3g} to {points[-1][1]:.3g} "
                       f"({', '.join(f'{v:.3g}' for _, v in points)}).")
    if r.has("vhcr_ud"):
        for column, label in (("val_kl_conv", "z_conv"), ("val_kl_utt", "z_utt")):
            points = r.curve("vhcr_ud", column)
            if points:
                late = [v for _, v in points[len(points) // 2:]]
                out.append(f"VHCR + u.d.: {label} validation KL over the second half of "
                           f"training stayed between {min(late):.4f} and {max(late):.4f} "
                           f"nats/word ("
                           f"{'' if min(late) > CLEARLY_ABOVE_ZERO else 'not '}clearly above 0"
                           f", threshold {CLEARLY_ABOVE_ZERO}).")
    out += [line for p in CO_ROWS if r.has(p) for line in [_co_alpha_binds(r, p)] if line]
    gains = [(p, r.lik(p, "context_gain")) for p in rows if r.lik(p, "context_gain") is not None]
    if gains:
        out.append("Context gain on the test split (nats per word the bound loses when each "
                   "response is decoded from another response's context; 0 = the context is "
                   "ignored): " + ", ".join(f"{_name(p)} {g:.3f}" for p, g in gains) + ".")
    key = "nll_bound_per_slice" if study.paper == "co" else "nll_bound"
    present, text = _ordering(r, TABLE_ROWS[study.paper], key, 2 if study.paper == "co" else 4)
    if present:
        where = (f"; CO+SS is {present.index('co_ss') + 1} of {len(present)}"
                 if "co_ss" in present else "")
        out.append(f"Test NLL bound ({'per slice' if study.paper == 'co' else 'per word'}), "
                   f"lowest first: {text}{where}.")
    return out
