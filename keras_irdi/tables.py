"""Result tables from a sweep CSV: interval mean accuracy, CPSNR, comparison with the paper, claim checks.

Input is what ``evaluate/sweep.py`` writes: ``RUN/eval/<degradation>_<dataset>.csv`` (one row per level)
and optionally a ``.json`` beside it. Nothing here imports TensorFlow/Keras: the tables can be rebuilt
anywhere from the CSV files. A partial sweep (only some levels) is fine: whatever an interval or a level
needs and the sweep lacks is reported as missing (``None`` in Python, "n/a" in Markdown, an empty cell in
CSV), never raised.

Every table function returns a :class:`Table` (``header``, ``rows`` of raw values, per-column
``formats`` for Markdown); ``to_markdown(rows, header)`` and ``to_csv(rows, header)`` render any rows.
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from keras_irdi.degradations import DEGRADATIONS, get_degradation
from keras_irdi.metrics import interval_mean_accuracy
from keras_irdi import confidence, paper_results
from keras_irdi.paper_results import NETWORK_COLUMNS, network_names

DEGRADATION_DISPLAY = {"jpeg": "JPEG", "gaussian": "Gaussian"}
DATASET_DISPLAY = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
LEVEL_SHORT = {"jpeg": "QF", "gaussian": "sigma"}
TABLE_KINDS = ("intervals", "psnr", "comparison", "claims", "cifar_c", "mechanism")


def _signed(decimals: int):
    """Signed number with ``decimals`` places, never "-0.000" (a difference that rounds to zero is "+0.000")."""
    def fmt(value) -> str:
        text = f"{float(value):+.{decimals}f}"
        return "+" + text[1:] if float(text) == 0 else text
    return fmt


ACC = "{:.3f}"
DIFF = _signed(3)
DB = "{:.2f}"
DB_DIFF = _signed(2)
LEVEL = "{:g}"
_TOL = 1e-6


class NoSweepError(FileNotFoundError):
    """RUN/eval holds no sweep CSV (the sweep has not been run yet)."""


def no_sweep_message(run_dir) -> str:
    return f"no sweep CSV in {Path(run_dir) / 'eval'}: run evaluate/sweep.py --run-dir {run_dir} first"


def display_name(degradation: str, dataset: str) -> str:
    """E.g. ``"JPEG CIFAR-10"``, the paper's name for the degraded dataset."""
    return f"{DEGRADATION_DISPLAY.get(degradation, degradation)} {DATASET_DISPLAY.get(dataset, dataset)}"


# ----------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------

def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


def format_cell(value, fmt: str | Callable | None = None) -> str:
    """Markdown text of one cell: missing -> "n/a", bool -> yes/no, numbers via ``fmt`` (default 3 dp)."""
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value.replace("|", "\\|")
    if callable(fmt):
        return fmt(value)
    if fmt is not None:
        return fmt.format(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return ACC.format(float(value))


def to_markdown(rows, header, formats=None) -> str:
    """A GitHub-flavoured Markdown table; ``formats`` is one format string (or None) per column."""
    formats = list(formats) if formats is not None else [None] * len(header)
    if len(formats) != len(header):
        raise ValueError(f"{len(formats)} formats for {len(header)} columns")
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header {len(header)}: {row!r}")
    numeric = [formats[i] is not None or
               any(isinstance(r[i], (int, float, np.number)) and not isinstance(r[i], bool) for r in rows)
               for i in range(len(header))]
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(v, f) for v, f in zip(row, formats)) + " |")
    return "\n".join(lines) + "\n"


def _csv_cell(value):
    if _is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def to_csv(rows, header, path=None) -> str:
    """CSV text with full-precision numbers and empty cells for missing values; written to ``path`` if given."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text)
    return text


@dataclass
class Table:
    title: str
    header: list
    rows: list
    formats: list
    notes: list = field(default_factory=list)

    def to_markdown(self, level: int = 3) -> str:
        parts = [f"{'#' * level} {self.title}\n", to_markdown(self.rows, self.header, self.formats)]
        if self.notes:
            parts.append("\n" + "\n".join(f"- {n}" for n in self.notes) + "\n")
        return "\n".join(parts)

    def to_csv(self, path=None) -> str:
        return to_csv(self.rows, self.header, path)


# ----------------------------------------------------------------------------------------------------
# Reading a sweep
# ----------------------------------------------------------------------------------------------------

def _to_float(text) -> float:
    if text is None:
        return math.nan
    text = str(text).strip()
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_sweep(csv_path) -> dict:
    """The sweep CSV as ``{column: float numpy array}``, rows sorted by level; blanks become NaN."""
    path = Path(csv_path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "level" not in [n.strip() for n in reader.fieldnames]:
            raise ValueError(f"{path} is not a sweep CSV: it has no 'level' column")
        names = [n.strip() for n in reader.fieldnames]
        columns = {n: [] for n in names}
        for row in reader:
            for raw_name, value in row.items():
                if raw_name is None:  # more cells than header names
                    continue
                columns[raw_name.strip()].append(_to_float(value))
    sweep = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    keep = np.isfinite(sweep["level"])
    order = np.argsort(sweep["level"][keep], kind="stable")
    return {k: v[keep][order] for k, v in sweep.items()}


def read_sweep_meta(csv_path) -> dict:
    """The JSON beside the CSV without its rows (``degradation``, ``dataset``, ``n_images``, ``run``), or {}."""
    json_path = Path(csv_path).with_suffix(".json")
    if not json_path.is_file():
        return {}
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        warnings.warn(f"ignoring unreadable {json_path}: {exc}")
        return {}
    if not isinstance(meta, dict):
        return {}
    return {k: v for k, v in meta.items() if k != "rows"}


class SweepFile(NamedTuple):
    csv_path: Path
    degradation: str
    dataset: str
    meta: dict


def _parse_name(stem: str):
    for deg in sorted(DEGRADATIONS, key=len, reverse=True):
        if stem.startswith(deg + "_") and len(stem) > len(deg) + 1:
            return deg, stem[len(deg) + 1:]
    return None


def find_sweeps(run_dir) -> list[SweepFile]:
    """Every ``RUN/eval/<degradation>_<dataset>.csv`` (``*_examples`` skipped); NoSweepError if none."""
    eval_dir = Path(run_dir) / "eval"
    found = []
    for path in sorted(eval_dir.glob("*.csv")) if eval_dir.is_dir() else []:
        if path.stem.endswith("_examples"):
            continue
        meta = read_sweep_meta(path)
        parsed = _parse_name(path.stem)
        deg = meta.get("degradation") or (parsed[0] if parsed else None)
        dataset = meta.get("dataset") or (parsed[1] if parsed else None)
        if deg not in DEGRADATIONS or not dataset:
            warnings.warn(f"skipping {path}: name is not <degradation>_<dataset>.csv with a degradation "
                          f"among {', '.join(DEGRADATIONS)}")
            continue
        found.append(SweepFile(path, deg, dataset, meta))
    if not found:
        raise NoSweepError(no_sweep_message(run_dir))
    return found


# ----------------------------------------------------------------------------------------------------
# Values out of a sweep
# ----------------------------------------------------------------------------------------------------

def _interval_label(interval) -> str:
    return f"({interval[0]:g},{interval[1]:g})"


def _interval_mean(sweep, column, low, high):
    if column not in sweep:
        return None
    try:
        value = interval_mean_accuracy(sweep["level"], sweep[column], low, high)
    except ValueError:  # an integer level of the interval was not evaluated
        return None
    return None if not math.isfinite(value) else float(value)


def interval_means(sweep, degradation) -> dict:
    """``{(lo, hi): {network column: mean accuracy or None}}`` over the paper's intervals."""
    deg = get_degradation(degradation)
    return {iv: {col: _interval_mean(sweep, col, *iv) for col in NETWORK_COLUMNS} for iv in deg.intervals}


def value_at(sweep, column, level):
    """The sweep's value of ``column`` at ``level`` (exact match), or None."""
    if column not in sweep:
        return None
    hit = np.flatnonzero(np.abs(sweep["level"] - float(level)) <= _TOL)
    if hit.size == 0:
        return None
    value = float(sweep[column][hit[0]])
    return value if math.isfinite(value) else None


def _diff(a, b):
    return None if a is None or b is None else a - b


# ----------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------

def interval_table(sweep, degradation, dataset: str | None = None) -> Table:
    """Interval mean accuracy of the six networks on every paper interval (the layout of Tables 3, 4, 6)."""
    names = network_names(degradation)
    rows = []
    for iv, means in interval_means(sweep, degradation).items():
        values = [means[c] for c in NETWORK_COLUMNS]
        best = None
        if all(v is not None for v in values):
            best = names[int(np.argmax(values))]
        rows.append([_interval_label(iv)] + values + [best])
    where = display_name(degradation, dataset) if dataset else DEGRADATION_DISPLAY.get(degradation, degradation)
    notes = ["mean of the accuracies at every integer level of the interval (paper, section 4.2); "
             "n/a = the sweep lacks some integer level of the interval"]
    return Table(f"Interval mean accuracy, {where}", ["interval", *names, "best"], rows,
                 [None] + [ACC] * len(names) + [None], notes)


def psnr_table(sweep, degradation, dataset: str | None = None) -> Table:
    """CPSNR [dB] of degraded and restored images at the paper's levels, with the paper's Table 2/5."""
    deg = get_degradation(degradation)
    paper = paper_results.cpsnr_table(degradation, dataset) if dataset else None
    rows = []
    for i, level in enumerate(deg.psnr_levels):
        d = value_at(sweep, "psnr_degraded", level)
        r = value_at(sweep, "psnr_restored", level)
        pd_ = pr = None
        if paper is not None and level in paper["levels"]:
            j = paper["levels"].index(level)
            pd_, pr = paper["degraded"][j], paper["restored"][j]
        rows.append([level, d, r, _diff(r, d), pd_, pr, _diff(d, pd_), _diff(r, pr)])
    header = [LEVEL_SHORT.get(degradation, deg.unit_name), "degraded", "restored", "gain",
              "paper degraded", "paper restored", "diff degraded", "diff restored"]
    notes = ["CPSNR in dB over the three colour channels, peak 255; diff = ours - paper"]
    notes.append(f"paper: {paper['source']}" if paper else
                 f"the paper reports no CPSNR for {display_name(degradation, dataset or '?')}")
    where = display_name(degradation, dataset) if dataset else DEGRADATION_DISPLAY.get(degradation, degradation)
    return Table(f"CPSNR of degraded and restored images, {where}", header, rows,
                 [LEVEL, DB, DB, DB_DIFF, DB, DB, DB_DIFF, DB_DIFF], notes)


def comparison_table(sweep, degradation, dataset) -> Table:
    """One row per (interval, network): our interval mean accuracy, the paper's, and ours - paper."""
    names = network_names(degradation)
    paper = paper_results.interval_table(degradation, dataset)
    rows = []
    for iv, means in interval_means(sweep, degradation).items():
        paper_row = paper["values"].get(tuple(iv)) if paper else None
        for k, (col, name) in enumerate(zip(NETWORK_COLUMNS, names)):
            theirs = paper_row[k] if paper_row is not None else None
            rows.append([_interval_label(iv), name, means[col], theirs, _diff(means[col], theirs)])
    notes = [f"paper: {paper['source']}" if paper else
             f"the paper reports no interval table for {display_name(degradation, dataset)}"]
    return Table(f"Ours vs the paper, interval mean accuracy, {display_name(degradation, dataset)}",
                 ["interval", "network", "ours", "paper", "diff"], rows, [None, None, ACC, ACC, DIFF], notes)


# ----------------------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------------------

class _View:
    """Interval means, CPSNR pairs and per-level accuracies of one source (our sweep or the paper)."""

    def __init__(self, intervals, psnr, levels=None, names=None, per_image=None):
        self.intervals = intervals    # {(lo, hi): {column: value or None}}
        self.psnr = psnr              # {level: (degraded, restored)} with None where unknown, or None
        self.levels = levels          # the sweep dict, or None (paper: no per-level data)
        self.names = names or {}      # {"intervals": "Table 3", "psnr": "Table 2"} for the paper
        self.per_image = per_image    # confidence.PerImage of our sweep, or None (paper, older sweeps)

    def diff_ci(self, left, right, low, high):
        """Bootstrap (diff, lower, upper) of two columns' mean over [low, high], or None without per-image data."""
        if self.per_image is None:
            return None
        return self.per_image.diff_ci(left.removeprefix("acc_"), right.removeprefix("acc_"), low, high)

    def iv(self, column, interval):
        return self.intervals.get(tuple(interval), {}).get(column)

    def level_mean(self, column, low, high):
        if self.levels is None:
            return None
        return _interval_mean(self.levels, column, low, high)


def _our_view(sweep, degradation, per_image=None):
    deg = get_degradation(degradation)
    psnr = {lv: (value_at(sweep, "psnr_degraded", lv), value_at(sweep, "psnr_restored", lv))
            for lv in deg.psnr_levels}
    return _View(interval_means(sweep, degradation), psnr, sweep, per_image=per_image)


def _paper_view(degradation, dataset):
    table = paper_results.interval_table(degradation, dataset)
    if table is None:
        return None
    intervals = {iv: dict(zip(NETWORK_COLUMNS, vals)) for iv, vals in table["values"].items()}
    cp = paper_results.cpsnr_table(degradation, dataset)
    psnr = {lv: (d, r) for lv, d, r in zip(cp["levels"], cp["degraded"], cp["restored"])} if cp else None
    names = {"intervals": table["table"], "psnr": cp["table"] if cp else None, "levels": None}
    return _View(intervals, psnr, names=names)


def MARGIN(value) -> str:  # keeps the sign of a tiny negative margin ("-0.0000"): it decides a verdict
    return f"{float(value):+.4f}"


def _f(x):
    return "n/a" if x is None else ACC.format(x)


def _ci_text(ci) -> str:
    return f"95% CI [{MARGIN(ci[1])}, {MARGIN(ci[2])}]"


def _compare_on(view, intervals, left, right, op, names_of):
    """'op(left, right) on every interval' -> (holds, evidence, verdict).

    ``holds`` compares the point estimates: False on any failure, None if some interval is missing.
    ``verdict`` adds the paired bootstrap interval of each difference where the view has per-image data:
    'holds' (every interval's CI above 0), 'fails' (some CI below 0), 'tie' (some CI contains 0), else
    the point estimate's 'holds'/'fails'/'n/a'.
    """
    fails, missing, margins, verdicts = [], [], [], []
    for iv in intervals:
        a = view.iv(left, iv)
        bs = [view.iv(c, iv) for c in right]
        if a is None or any(b is None for b in bs):
            missing.append(_interval_label(iv))
            continue
        b, bcol = max(zip(bs, right))
        ci = view.diff_ci(left, bcol, *iv)
        margins.append((a - b, iv, bcol, a, b, ci))
        verdicts.append(confidence.verdict(ci) if ci else ("holds" if op(a, b) else "fails"))
        if not op(a, b):
            fails.append(f"{_interval_label(iv)}: {names_of[left]} {_f(a)} vs {names_of[bcol]} {_f(b)} "
                         f"({MARGIN(a - b)}{', ' + _ci_text(ci) if ci else ''})")
    verdict = confidence.combine(verdicts + ["n/a"] * len(missing))
    if fails:
        return False, "fails at " + "; ".join(fails), verdict
    if not margins:
        return None, f"{', '.join(missing)} not covered by the sweep", "n/a"
    m, iv, bcol, a, b, ci = min(margins, key=lambda t: t[0])
    text = (f"{names_of[left]} {_f(a)} vs {names_of[bcol]} {_f(b)} ({MARGIN(m)}"
            f"{', ' + _ci_text(ci) if ci else ''}) at {_interval_label(iv)}")
    if len(intervals) == 1:
        return True, text, verdict
    if missing:
        return None, (f"holds on {len(margins)} covered intervals, closest: {text}; not covered: "
                      f"{', '.join(missing)}"), verdict
    return True, f"holds on all {len(margins)} intervals, closest: {text}", verdict


def _claim_specs(degradation):
    deg = get_degradation(degradation)
    names = network_names(degradation)
    names_of = dict(zip(NETWORK_COLUMNS, names))
    cla_org, cla_deg, seq_org, seq_res, ens, prop = NETWORK_COLUMNS
    all_iv = list(deg.intervals)
    full = max(all_iv, key=lambda iv: iv[1] - iv[0])
    subs = [iv for iv in all_iv if iv != full]
    # Highest quality: highest QF for JPEG, lowest sigma for noise.
    best_quality = subs[-1] if degradation == "jpeg" else subs[0]
    disp = DEGRADATION_DISPLAY.get(degradation, degradation)
    gt, ge = (lambda a, b: a > b), (lambda a, b: a >= b)

    def proposed_best(v):
        return _compare_on(v, [full], prop, [c for c in NETWORK_COLUMNS if c != prop], ge, names_of)

    def seq_org_best_hq(v):
        return _compare_on(v, [best_quality], seq_org, [cla_org, cla_deg, seq_res], gt, names_of)

    def psnr_raised(v):
        if v.psnr is None:
            return None, "no CPSNR for this dataset", "n/a"
        fails, missing, gains = [], [], []
        for lv, (d, r) in v.psnr.items():
            if d is None or r is None:
                missing.append(f"{lv:g}")
                continue
            gains.append((r - d, lv))
            if not r > d:
                fails.append(f"{LEVEL_SHORT.get(degradation, '')} {lv:g}: {DB.format(d)} -> {DB.format(r)} dB")
        if fails:
            return False, "fails at " + "; ".join(fails), "fails"
        if not gains:
            return None, "no paper level in the sweep", "n/a"
        g, lv = min(gains)
        text = f"smallest gain {DB_DIFF(g)} dB at {LEVEL_SHORT.get(degradation, '')} {lv:g}"
        if missing:
            return None, f"holds at {len(gains)} levels ({text}); missing: {', '.join(missing)}", "n/a"
        return True, f"holds at all {len(gains)} levels; {text}", "holds"

    specs = [
        ("Proposed best on the full interval", proposed_best),
        ("Proposed ≥ Seq(org) and Seq(res) on every interval",
         lambda v: _compare_on(v, all_iv, prop, [seq_org, seq_res], ge, names_of)),
        ("Seq(org) > Cla(org) on every interval",
         lambda v: _compare_on(v, all_iv, seq_org, [cla_org], gt, names_of)),
        (f"Seq(res) ≥ {names_of[cla_deg]} on every interval",
         lambda v: _compare_on(v, all_iv, seq_res, [cla_deg], ge, names_of)),
        ("Proposed > Ens(Cla) on the full interval",
         lambda v: _compare_on(v, [full], prop, [ens], gt, names_of)),
        (f"{names_of[cla_deg]} > Cla(org) on the full interval",
         lambda v: _compare_on(v, [full], cla_deg, [cla_org], gt, names_of)),
        (f"Seq(org) best at the highest-quality interval {_interval_label(best_quality)} among Cla/Seq ({disp})",
         seq_org_best_hq),
        ("Restoration raises CPSNR at every paper level", psnr_raised, "psnr"),
    ]
    if degradation == "jpeg":
        low_ivs = [iv for iv in subs if iv[1] <= 60]

        low_label = f"intervals up to QF {max(iv[1] for iv in low_ivs)}"

        def seq_crossover(v):
            ok1, ev1, v1 = _compare_on(v, low_ivs, seq_res, [seq_org], gt, names_of)
            ok2, ev2, v2 = _compare_on(v, [subs[-1]], seq_org, [seq_res], gt, names_of)
            if ok1 is False or ok2 is False:
                holds = False
            elif ok1 is None or ok2 is None:
                holds = None
            else:
                holds = True
            return (holds, f"Seq(res) > Seq(org) on {low_label}: {ev1}. Seq(org) > Seq(res) at "
                    f"{_interval_label(subs[-1])}: {ev2}", confidence.combine([v1, v2]))

        def cla_org_top(v):
            a, b = v.level_mean(cla_org, 95, 100), v.level_mean(cla_deg, 95, 100)
            if a is None or b is None:
                return None, "needs the per-level accuracies at QF 95..100", "n/a"
            ci = v.diff_ci(cla_org, cla_deg, 95, 100)
            return (a > b, f"mean over QF 95..100: Cla(org) {_f(a)} vs {names_of[cla_deg]} {_f(b)}"
                    f"{' (' + _ci_text(ci) + ')' if ci else ''}",
                    confidence.verdict(ci) if ci else ("holds" if a > b else "fails"))

        specs += [
            ("Seq(res) > Seq(org) on intervals below QF 60, Seq(org) > Seq(res) on (81,100) (JPEG)",
             seq_crossover),
            (f"Cla(org) > {names_of[cla_deg]} for QF 95..100 (JPEG, per-level)", cla_org_top, "levels"),
        ]
    # (claim, check(view) -> (holds, evidence), which paper table the check reads)
    return [spec if len(spec) == 3 else (*spec, "intervals") for spec in specs]


def _holds_text(holds) -> str:
    return {True: "holds", False: "fails", None: "n/a"}[holds]


class ClaimVerdict(NamedTuple):
    """One of the paper's claims checked on a sweep.

    ``holds``: the point estimates' answer (True/False, None if the sweep lacks what it needs);
    ``verdict``: 'holds' / 'fails' / 'tie' (a 95% paired-bootstrap CI of a deciding difference contains 0)
    or 'n/a'; without per-image data the verdict is the point estimate's.
    """

    claim: str
    holds: bool | None
    verdict: str
    evidence: str


def claim_verdicts(sweep, degradation, dataset, per_image=None) -> list[ClaimVerdict]:
    """The paper's claims on this sweep (``per_image``: its confidence.PerImage, for the CIs).

    The evidence quotes our numbers and ends with the verdict on the paper's own table for ``dataset``
    (if it has one).
    """
    ours = _our_view(sweep, degradation, per_image)
    paper = _paper_view(degradation, dataset)
    out = []
    for claim, check, kind in _claim_specs(degradation):
        holds, evidence, verdict = check(ours)
        if paper is not None:
            p_holds = check(paper)[0]
            source = paper.names.get(kind)
            evidence += f" | paper{' ' + source if source else ''}: {_holds_text(p_holds)}"
        out.append(ClaimVerdict(claim, None if holds is None else bool(holds), verdict, evidence))
    return out


def claims_table(sweep, degradation, dataset, per_image=None) -> Table:
    rows = [[c.claim, c.verdict, c.evidence] for c in claim_verdicts(sweep, degradation, dataset, per_image)]
    ci_note = ("verdict: holds / fails = every deciding difference's 95% paired bootstrap CI (test images "
               f"resampled {confidence.N_RESAMPLES} times, seeded) is above / some is below 0; tie = a CI "
               "contains 0; n/a = the sweep does not cover what the claim needs" if per_image is not None else
               "verdict: holds / fails on the point estimates (this sweep has no per-image file, so no "
               "confidence intervals); n/a = the sweep does not cover what the claim needs")
    return Table(f"The paper's claims on our numbers, {display_name(degradation, dataset)}",
                 ["claim", "verdict", "evidence"], rows, [None, None, None], [ci_note])


def cifar_c_table(sweep, degradation, dataset: str = "cifar10") -> Table:
    """Accuracy at the CIFAR-10-C severities 1..5 (as levels of this degradation) beside reference models."""
    deg = get_degradation(degradation)
    names = network_names(degradation)
    ref = paper_results.cifar_c_reference(degradation)
    models = ref["models"] if ref else {"reference": (None,) * len(deg.cifar_c_levels)}
    applies = ref is not None and dataset == ref["dataset"]
    rows = []
    for sev, level in enumerate(deg.cifar_c_levels, start=1):
        ours = [value_at(sweep, c, level) for c in NETWORK_COLUMNS]
        refs = []
        for values in models.values():
            v = values[sev - 1] if applies else None
            refs.append(paper_results.NOT_AVAILABLE if (applies and v is None) else v)
        rows.append([sev, level] + ours + refs)
    notes = []
    if ref:
        notes.append(ref["note"])
        notes.append(f"reference: {ref['source']}")
    if not applies:
        notes.append(f"the reference numbers are for CIFAR-10-C, not {DATASET_DISPLAY.get(dataset, dataset)}")
    notes.append("ours = accuracy of each network at that exact level of the sweep (n/a if not swept)")
    header = ["severity", LEVEL_SHORT.get(degradation, deg.unit_name), *names, *models]
    return Table(f"CIFAR-10-C severities, {display_name(degradation, dataset)}", header, rows,
                 [None, LEVEL] + [ACC] * (len(names) + len(models)), notes)


def mechanism_table(sweep, degradation, dataset: str | None = None) -> Table:
    """Does the level -> weight mechanism work, and could it help? One row per paper interval.

    The estimated level and its error say whether the estimator follows the level; w_org says whether the
    weight net turns that into level-dependent weights. "best Seq per level" is the interval mean of
    max(Seq(org), Seq(res)) at each level: what a perfect choice of one sequential network per level
    reaches, to set beside Proposed and Cla(deg) when deciding what limits Proposed.
    """
    names = network_names(degradation)
    short = LEVEL_SHORT.get(degradation, "level")
    needed = ("level_est_mean", "level_mae", "w_org", "acc_seq_org", "acc_seq_res", "acc_proposed", "acc_cla_deg")
    view = dict(sweep)
    if all(c in sweep for c in needed):  # an older sweep CSV without these columns gives n/a rows
        view["best_seq"] = np.maximum(sweep["acc_seq_org"], sweep["acc_seq_res"])
    columns = ("level_est_mean", "level_mae", "w_org", "best_seq", "acc_proposed", "acc_cla_deg")
    # The interval table's rule for every column: all integer levels of the interval, or n/a.
    rows = [[_interval_label(iv)] + ([_interval_mean(view, c, *iv) for c in columns] if "best_seq" in view
                                     else [None] * len(columns))
            for iv in get_degradation(degradation).intervals]
    where = display_name(degradation, dataset) if dataset else DEGRADATION_DISPLAY.get(degradation, degradation)
    notes = [f"means over the integer levels of each interval; estimated {short} and its mean absolute error "
             f"come from the level estimator, w_org from the weight net (weight of Seq(org))",
             "best Seq per level = mean of max(Seq(org), Seq(res)) at each level: a perfect per-level choice "
             "between the two sequential networks"]
    return Table(f"Level, weights and what they could gain, {where}",
                 ["interval", f"estimated {short}", f"{short} MAE", "w_org", "best Seq per level",
                  names[5], names[1]], rows, [None, "{:.1f}", "{:.1f}", "{:.3f}", ACC, ACC, ACC], notes)


# ----------------------------------------------------------------------------------------------------
# Everything for a run
# ----------------------------------------------------------------------------------------------------

def tables_for(sweep, degradation, dataset, per_image=None) -> dict[str, Table]:
    return {
        "intervals": interval_table(sweep, degradation, dataset),
        "psnr": psnr_table(sweep, degradation, dataset),
        "comparison": comparison_table(sweep, degradation, dataset),
        "claims": claims_table(sweep, degradation, dataset, per_image),
        "cifar_c": cifar_c_table(sweep, degradation, dataset),
        "mechanism": mechanism_table(sweep, degradation, dataset),
    }


def _sweep_summary_line(sweep, meta) -> str:
    levels = sweep["level"]
    integer = levels[levels == np.round(levels)]
    extra = levels.size - integer.size
    parts = [f"{levels.size} levels"]
    if integer.size:
        parts.append(f"integer {integer.min():g}..{integer.max():g}")
    if extra:
        parts.append(f"{extra} non-integer ({', '.join(f'{x:g}' for x in levels[levels != np.round(levels)])})")
    if meta.get("n_images") is not None:
        parts.append(f"{meta['n_images']} test images")
    return "; ".join(parts)


def _add_claims_to_sweep_json(csv_path, verdicts) -> None:
    json_path = Path(csv_path).with_suffix(".json")
    if not json_path.is_file():
        return
    data = json.loads(json_path.read_text())
    data["claims"] = [c._asdict() for c in verdicts]
    tmp = json_path.with_suffix(".json.tmp")  # not artifacts.write_json: this module stays TensorFlow-free
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False))
    tmp.replace(json_path)


def write_all_tables(run_dir, out_dir=None) -> list[Path]:
    """Write ``<deg>_<dataset>_{intervals,psnr,comparison,claims,cifar_c,mechanism}.{md,csv}`` and ``SUMMARY.md``.

    Reads every ``RUN/eval/*.csv`` (not ``*_examples``); output goes to ``out_dir`` or ``RUN/tables``.
    Returns the written paths, ``SUMMARY.md`` last. Raises NoSweepError if there is no sweep CSV.
    """
    sweeps = find_sweeps(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "tables"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary = [f"# Results summary\n\nRun: `{run_dir}`. Tables rebuilt from the sweep CSVs by "
               "`python evaluate/tables.py`; accuracies are fractions, CPSNR in dB, "
               "diff = ours - paper; n/a = not covered by the sweep.\n"]
    for sf in sweeps:
        sweep = read_sweep(sf.csv_path)
        stem = f"{sf.degradation}_{sf.dataset}"
        summary.append(f"## {display_name(sf.degradation, sf.dataset)}\n\n"
                       f"Source: `{sf.csv_path.name}`: {_sweep_summary_line(sweep, sf.meta)}.\n")
        per_image = confidence.PerImage.read(confidence.correct_path(sf.csv_path))
        if per_image is not None:  # the sweep JSON carries the claims with their confidence intervals
            _add_claims_to_sweep_json(sf.csv_path, claim_verdicts(sweep, sf.degradation, sf.dataset, per_image))
        for kind, table in tables_for(sweep, sf.degradation, sf.dataset, per_image).items():
            md_path, csv_path = out / f"{stem}_{kind}.md", out / f"{stem}_{kind}.csv"
            md_path.write_text(table.to_markdown(level=2))
            table.to_csv(csv_path)
            written += [md_path, csv_path]
            summary.append(table.to_markdown(level=3))
    summary_path = out / "SUMMARY.md"
    summary_path.write_text("\n".join(summary))
    written.append(summary_path)
    return written
