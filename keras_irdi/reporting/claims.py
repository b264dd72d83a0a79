"""The paper's claims, each a :class:`Claim` record, checked on our sweep and on the paper's own tables.

A check reads a :class:`View` (interval means, CPSNR pairs, per-level accuracies and, for our sweep, the
per-image correctness behind the bootstrap CIs) and returns ``(holds, evidence, verdict)``. The same check
runs on the paper's numbers, so every verdict also says whether the paper's own table satisfies the claim.
Claim wording is a template filled from the degradation's facts, so it cannot drift from what is checked.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, NamedTuple

from keras_irdi.reporting import confidence, paper_results
from keras_irdi.degradations import get_degradation
from keras_irdi.network_ids import display_names
from keras_irdi.reporting.rendering import ACC, DB, DB_DIFF
from keras_irdi.reporting.sweep_files import NETWORK_COLUMNS, interval_label, interval_mean, interval_means, value_at

CLA_ORG, CLA_DEG, SEQ_ORG, SEQ_RES, ENS_CLA, PROPOSED = NETWORK_COLUMNS
LOW_QF = 60          # seq_crossover: Seq(res) wins on the JPEG sub-intervals up to this QF
TOP_QF = (95, 100)   # cla_org_top: Cla(org) still wins on these JPEG QFs (per level, not a paper interval)


def _names(degradation) -> dict:
    return dict(zip(NETWORK_COLUMNS, display_names(degradation)))


def _span(low, high) -> str:
    return f"{low:g}..{high:g}"


def _low_intervals(deg):
    """seq_crossover's low-quality sub-intervals and the highest level they reach (None if there are none)."""
    low = [iv for iv in deg.sub_intervals if iv[1] <= LOW_QF]
    return low, max((hi for _, hi in low), default=None)


class View:
    """One source of numbers for the claims on one degradation: our sweep or the paper's tables."""

    def __init__(self, degradation, intervals, psnr, levels=None, tables=None, per_image=None):
        self.deg = get_degradation(degradation)
        self.names = _names(degradation)  # {column: display name}
        self.intervals = intervals    # {(lo, hi): {column: value or None}}
        self.psnr = psnr              # {level: (degraded, restored)} with None where unknown, or None
        self.levels = levels          # the sweep dict, or None (paper: no per-level data)
        self.tables = tables or {}    # paper: {Claim.source: "Table 3", ...}
        self.per_image = per_image    # confidence.PerImage of our sweep, or None (paper, older sweeps)

    @classmethod
    def of_sweep(cls, sweep, degradation, per_image=None) -> "View":
        psnr = {lv: (value_at(sweep, "psnr_degraded", lv), value_at(sweep, "psnr_restored", lv))
                for lv in get_degradation(degradation).psnr_levels}
        return cls(degradation, interval_means(sweep, degradation), psnr, sweep, per_image=per_image)

    @classmethod
    def of_paper(cls, degradation, dataset) -> "View | None":
        """The paper's Table 3/4/6 (and 2/5), or None if the paper has no table for this dataset."""
        table = paper_results.interval_table(degradation, dataset)
        if table is None:
            return None
        intervals = {iv: dict(zip(NETWORK_COLUMNS, vals)) for iv, vals in table["values"].items()}
        cp = paper_results.cpsnr_table(degradation, dataset)
        psnr = {lv: (d, r) for lv, d, r in zip(cp["levels"], cp["degraded"], cp["restored"])} if cp else None
        tables = {"intervals": table["table"], "psnr": cp["table"] if cp else None}
        return cls(degradation, intervals, psnr, tables=tables)

    def diff_ci(self, left, right, low, high):
        """Bootstrap (diff, lower, upper) of two columns' mean over [low, high], or None without per-image data."""
        if self.per_image is None:
            return None
        return self.per_image.diff_ci(left.removeprefix("acc_"), right.removeprefix("acc_"), low, high,
                                      step=self.deg.level_step)

    def iv(self, column, interval):
        return self.intervals.get(tuple(interval), {}).get(column)

    def level_mean(self, column, low, high):
        if self.levels is None:
            return None
        return interval_mean(self.levels, column, low, high, self.deg.level_step)


# ----------------------------------------------------------------------------------------------------
# Evidence text and the comparison every interval claim is made of
# ----------------------------------------------------------------------------------------------------

def _margin(value) -> str:  # keeps the sign of a tiny negative margin ("-0.0000"): it decides a verdict
    return f"{float(value):+.4f}"


def _f(x):
    return "n/a" if x is None else ACC.format(x)


def _ci_text(ci) -> str:
    return f"95% CI [{_margin(ci[1])}, {_margin(ci[2])}]"


def _verdict(ci, ok) -> str:
    """The CI's verdict where there is one, else the point estimate's."""
    return confidence.verdict(ci) if ci else ("holds" if ok else "fails")


def _compare_on(view, intervals, left, right, op):
    """'op(left, right) on every interval' -> (holds, evidence, verdict).

    ``holds`` compares the point estimates: False on any failure, None if some interval is missing.
    ``verdict`` adds the paired bootstrap interval of each difference where the view has per-image data:
    'holds' (every interval's CI above 0), 'fails' (some CI below 0), 'tie' (some CI contains 0), else
    the point estimate's 'holds'/'fails'/'n/a'. With several rivals ("best among") every rival's CI
    counts, not only the runner-up's: a rival with a lower mean but a less correlated network can have the
    wider interval, and beating it is part of being best.
    """
    names = view.names
    fails, missing, margins, verdicts = [], [], [], []
    for iv in intervals:
        a = view.iv(left, iv)
        bs = [view.iv(c, iv) for c in right]
        if a is None or any(b is None for b in bs):
            missing.append(interval_label(iv))
            continue
        rivals = [(b, col, view.diff_ci(left, col, *iv)) for b, col in sorted(zip(bs, right), reverse=True)]
        verdicts.extend(_verdict(ci, op(a, b)) for b, col, ci in rivals)
        b, bcol, ci = rivals[0]  # the runner-up by mean decides the point estimate
        if not op(a, b):
            fails.append(f"{interval_label(iv)}: {names[left]} {_f(a)} vs {names[bcol]} {_f(b)} "
                         f"({_margin(a - b)}{', ' + _ci_text(ci) if ci else ''})")
        if all(ci for _, _, ci in rivals):  # the rival whose CI comes closest to (or below) 0
            b, bcol, ci = min(rivals, key=lambda r: r[2][1])
        margins.append((a - b, iv, bcol, a, b, ci))
    verdict = confidence.combine(verdicts + ["n/a"] * len(missing))
    if fails:
        return False, "fails at " + "; ".join(fails), verdict
    if not margins:
        return None, f"{', '.join(missing)} not covered by the sweep", "n/a"
    # The interval that decides the verdict: the lowest CI bound where there are CIs, else the smallest margin.
    m, iv, bcol, a, b, ci = min(margins, key=lambda t: t[5][1] if t[5] else t[0])
    text = (f"{names[left]} {_f(a)} vs {names[bcol]} {_f(b)} ({_margin(m)}"
            f"{', ' + _ci_text(ci) if ci else ''}) at {interval_label(iv)}")
    if len(intervals) == 1:
        return True, text, verdict
    if missing:
        return None, (f"holds on {len(margins)} covered intervals, weakest: {text}; not covered: "
                      f"{', '.join(missing)}"), verdict
    return True, f"holds on all {len(margins)} intervals, weakest: {text}", verdict


def _on_every_interval(left, right, op):
    return lambda v: _compare_on(v, v.deg.intervals, left, right, op)


def _on_full_interval(left, right, op):
    return lambda v: _compare_on(v, [v.deg.full_interval], left, right, op)


# ----------------------------------------------------------------------------------------------------
# The checks that are more than one comparison
# ----------------------------------------------------------------------------------------------------

def _seq_org_best_hq(v):
    return _compare_on(v, [v.deg.highest_quality_interval], SEQ_ORG, [CLA_ORG, CLA_DEG, SEQ_RES], operator.gt)


def _psnr_raised(v):
    if v.psnr is None:
        return None, "no CPSNR for this dataset", "n/a"
    fails, missing, gains = [], [], []
    for lv, (d, r) in v.psnr.items():
        if d is None or r is None:
            missing.append(f"{lv:g}")
            continue
        gains.append((r - d, lv))
        if not r > d:
            fails.append(f"{v.deg.short} {lv:g}: {DB.format(d)} -> {DB.format(r)} dB")
    if fails:
        return False, "fails at " + "; ".join(fails), "fails"
    if not gains:
        return None, "no paper level in the sweep", "n/a"
    g, lv = min(gains)
    text = f"smallest gain {DB_DIFF(g)} dB at {v.deg.short} {lv:g}"
    if missing:
        return None, f"holds at {len(gains)} levels ({text}); missing: {', '.join(missing)}", "n/a"
    return True, f"holds at all {len(gains)} levels; {text}", "holds"


def _seq_crossover(v):
    (low, up_to), hq = _low_intervals(v.deg), v.deg.highest_quality_interval
    ok1, ev1, v1 = _compare_on(v, low, SEQ_RES, [SEQ_ORG], operator.gt)
    ok2, ev2, v2 = _compare_on(v, [hq], SEQ_ORG, [SEQ_RES], operator.gt)
    holds = False if False in (ok1, ok2) else None if None in (ok1, ok2) else True
    return (holds, f"Seq(res) > Seq(org) on intervals up to {v.deg.short} {up_to:g}: {ev1}. "
                   f"Seq(org) > Seq(res) at {interval_label(hq)}: {ev2}", confidence.combine([v1, v2]))


def _cla_org_top(v):
    a, b = v.level_mean(CLA_ORG, *TOP_QF), v.level_mean(CLA_DEG, *TOP_QF)
    levels = f"{v.deg.short} {_span(*TOP_QF)}"
    if a is None or b is None:
        return None, f"needs the per-level accuracies at {levels}", "n/a"
    ci = v.diff_ci(CLA_ORG, CLA_DEG, *TOP_QF)
    return (a > b, f"mean over {levels}: Cla(org) {_f(a)} vs {v.names[CLA_DEG]} {_f(b)}"
                   f"{' (' + _ci_text(ci) + ')' if ci else ''}", _verdict(ci, a > b))


# ----------------------------------------------------------------------------------------------------
# The claims
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One of the paper's claims.

    ``text``: a template over :func:`_wording`'s fields (``{cla_deg}`` -> Cla(jpg), ``{hq}`` -> (81,100), ...).
    ``check(view) -> (holds, evidence, verdict)``. ``source``: which of the paper's tables the check reads
    ("intervals", "psnr"; "levels" = per-level accuracies, which the paper does not print).
    ``degradations``: those the paper makes the claim for (None: every one).
    """

    id: str
    text: str
    check: Callable[[View], tuple]
    source: str = "intervals"
    degradations: tuple[str, ...] | None = None

    def wording(self, degradation: str) -> str:
        return self.text.format(**_wording(degradation))


def _wording(degradation) -> dict:
    deg = get_degradation(degradation)
    return {"cla_deg": _names(degradation)[CLA_DEG], "deg": deg.display, "short": deg.short,
            "hq": interval_label(deg.highest_quality_interval), "low": _low_intervals(deg)[1], "top": _span(*TOP_QF)}


CLAIMS: tuple[Claim, ...] = (
    Claim("proposed_best", "Proposed best on the full interval",
          _on_full_interval(PROPOSED, [c for c in NETWORK_COLUMNS if c != PROPOSED], operator.ge)),
    Claim("proposed_ge_seq", "Proposed ≥ Seq(org) and Seq(res) on every interval",
          _on_every_interval(PROPOSED, [SEQ_ORG, SEQ_RES], operator.ge)),
    Claim("seq_org_gt_cla_org", "Seq(org) > Cla(org) on every interval",
          _on_every_interval(SEQ_ORG, [CLA_ORG], operator.gt)),
    Claim("seq_res_ge_cla_deg", "Seq(res) ≥ {cla_deg} on every interval",
          _on_every_interval(SEQ_RES, [CLA_DEG], operator.ge)),
    Claim("proposed_gt_ens_cla", "Proposed > Ens(Cla) on the full interval",
          _on_full_interval(PROPOSED, [ENS_CLA], operator.gt)),
    Claim("cla_deg_gt_cla_org", "{cla_deg} > Cla(org) on the full interval",
          _on_full_interval(CLA_DEG, [CLA_ORG], operator.gt)),
    Claim("seq_org_best_hq", "Seq(org) best at the highest-quality interval {hq} among Cla/Seq ({deg})",
          _seq_org_best_hq),
    Claim("psnr_raised", "Restoration raises CPSNR at every paper level", _psnr_raised, source="psnr"),
    Claim("seq_crossover", "Seq(res) > Seq(org) on intervals below {short} {low:g}, Seq(org) > Seq(res) on {hq} "
          "({deg})", _seq_crossover, degradations=("jpeg",)),
    Claim("cla_org_top", "Cla(org) > {cla_deg} for {short} {top} ({deg}, per-level)", _cla_org_top,
          source="levels", degradations=("jpeg",)),
)


def claims_for(degradation: str) -> list[Claim]:
    """The claims the paper makes for this degradation, in the order of the claims table."""
    return [c for c in CLAIMS if c.degradations is None or degradation in c.degradations]


class ClaimVerdict(NamedTuple):
    """One of the paper's claims checked on a sweep.

    ``holds``: the point estimates' answer (True/False, None if the sweep lacks what it needs);
    ``verdict``: 'holds' / 'fails' / 'tie' (a 95% paired-bootstrap CI of a deciding difference contains 0)
    or 'n/a'; without per-image data the verdict is the point estimate's.
    """

    id: str
    claim: str
    holds: bool | None
    verdict: str
    evidence: str


def _holds_text(holds) -> str:
    return {True: "holds", False: "fails", None: "n/a"}[holds]


def claim_verdicts(sweep, degradation, dataset, per_image=None) -> list[ClaimVerdict]:
    """The paper's claims on this sweep (``per_image``: its confidence.PerImage, for the CIs).

    The evidence quotes our numbers and ends with the verdict on the paper's own table for ``dataset``
    (if it has one).
    """
    ours = View.of_sweep(sweep, degradation, per_image)
    paper = View.of_paper(degradation, dataset)
    out = []
    for claim in claims_for(degradation):
        holds, evidence, verdict = claim.check(ours)
        if paper is not None:
            source = paper.tables.get(claim.source)
            evidence += f" | paper{' ' + source if source else ''}: {_holds_text(claim.check(paper)[0])}"
        out.append(ClaimVerdict(claim.id, claim.wording(degradation), None if holds is None else bool(holds),
                                verdict, evidence))
    return out
