"""Whether published results reproduce: the key numbers of new runs beside those of a previous one.

Reads only the published tables (``results/<run>/tables/<degradation>_<dataset>_*.csv``), from a folder or
from a git revision (``REV:results/<run>``), so the comparison needs neither data nor models. For each claim
it says whether the verdict changed and whether the previous run's deciding difference lies inside the new
run's 95 % paired bootstrap CI (then the change is within what resampling the test images explains).
``none`` as the previous run states a first run of a sweep (nothing earlier to compare); where the paper has
the sweep's interval table, its numbers stand beside the runs'.
"""
from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

# One comparison in a claim's evidence: "[(i,j): ]A 0.756 vs B 0.762 (-0.0054, 95% CI [-0.0148, +0.0051])[ at (i,j)]".
_COMPARISON = re.compile(r"(?:(\(\d+,\d+\)): )?([^;:|(]+?(?:\([^)]*\))?) (\d\.\d+) vs ([^;|]+?) (\d\.\d+) "
                         r"\((?:([+-]\d+\.\d+), )?95% CI \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]\)"
                         r"(?: at (\(\d+,\d+\)))?")


NONE = "none"  # as the previous run: no earlier run of this sweep


class Results:
    """One published results folder, on disk or in git (``REV:path``); ``none``: no run (every table empty)."""

    def __init__(self, where: str, repo: Path | None = None):
        self.where, self.repo = str(where), repo
        self.missing = self.where == NONE and not Path(self.where).exists()
        self.in_git = ":" in self.where and not Path(self.where).exists()
        folder = self.where.rstrip("/").split("/")[-1]
        self.name = (f"{self.where.split(':', 1)[0]}:{folder}" if self.in_git  # the revision tells apart
                     else "no earlier run" if self.missing else folder)

    def read(self, relative: str) -> str | None:
        if self.missing:
            return None
        if self.in_git:
            rev, path = self.where.split(":", 1)
            proc = subprocess.run(["git", "show", f"{rev}:{path.rstrip('/')}/{relative}"], capture_output=True,
                                  text=True, cwd=self.repo)
            return proc.stdout if proc.returncode == 0 else None
        file = Path(self.where) / relative
        return file.read_text() if file.is_file() else None

    def table(self, prefix: str, kind: str) -> list[dict]:
        text = self.read(f"tables/{prefix}_{kind}.csv")
        return list(csv.DictReader(io.StringIO(text))) if text else []


def _f(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def comparisons(evidence: str) -> dict:
    """{(interval, A, B): (difference, CI low, CI high)} for every comparison a claim's evidence states."""
    out = {}
    for m in _COMPARISON.finditer(evidence or ""):
        before, a, a_value, b, b_value, diff, low, high, after = m.groups()
        diff = float(diff) if diff else float(a_value) - float(b_value)  # a per-level mean states no difference
        out[(before or after, a.strip().removeprefix("mean over ").split(": ")[-1], b.strip())] = \
            (diff, float(low), float(high))
    return out


def _change(previous: dict, new: dict) -> str:
    """Whether each comparison both runs state has its previous difference inside the new 95 % CI."""
    shared = [k for k in previous["comparisons"] if k in new["comparisons"]]
    if not shared:
        return "no comparison stated by both"
    outside = [k for k in shared if not new["comparisons"][k][1] <= previous["comparisons"][k][0]
               <= new["comparisons"][k][2]]
    if not outside:
        return "inside the new CI" + ("" if len(shared) == 1 else f" (all {len(shared)} comparisons)")
    k = outside[0]
    p, (_, low, high) = previous["comparisons"][k][0], new["comparisons"][k]
    return (f"outside the new CI: {k[1]} vs {k[2]}{f' at {k[0]}' if k[0] else ''} was {p:+.4f}, now "
            f"[{low:+.4f}, {high:+.4f}]"
            + (f" ({len(outside)} of {len(shared)} comparisons outside)" if len(shared) > 1 else ""))


def _paper_values(prefix: str, kind: str) -> dict:
    """{(interval, network): the paper's value} for an intervals table the paper has, else {}."""
    from keras_irdi.network_ids import display_names
    from keras_irdi.reporting.paper_results import interval_table

    degradation, _, dataset = prefix.rpartition("_")
    paper = interval_table(degradation, dataset) if kind == "intervals" else None
    if not paper:
        return {}
    names = display_names(degradation)
    return {(f"({lo},{hi})", name): value for (lo, hi), values in paper["values"].items()
            for name, value in zip(names, values)}


def _number_rows(title, previous, runs, prefix, kind, columns, fmt) -> list[str]:
    """A table of one kind's numbers: the paper's (where it has them), the previous value, each new run's and
    its difference from the previous. Rows and columns are the previous run's, else the first new run's."""
    prev_rows = {r[next(iter(r))]: r for r in previous.table(prefix, kind)}
    tables = [run.table(prefix, kind) for run in runs]
    template = next((rows for rows in [previous.table(prefix, kind)] + tables if rows), None)
    if template is None:
        return []
    key = next(iter(template[0]))  # the row label: interval, QF, sigma, ...
    new_rows = [{r[key]: r for r in rows} for rows in tables]
    paper = _paper_values(prefix, kind)
    out = [f"**{title}**", "", f"| {key} | |{' paper |' if paper else ''} {previous.name} | "
           + " | ".join(f"{r.name} | diff" for r in runs) + " |",
           "|:---|:---|" + ("---:|" if paper else "") + "---:|" + "---:|---:|" * len(runs)]
    for row in template:
        for col in columns(row):
            p = _f(prev_rows.get(row[key], {}).get(col))
            cells = []
            for rows in new_rows:
                v = _f(rows.get(row[key], {}).get(col))
                cells += ["n/a", ""] if v is None else [fmt.format(v), "" if p is None else f"{v - p:+.3f}"]
            value = paper.get((row[key], col))
            paper_cell = f" {'n/a' if value is None else fmt.format(value)} |" if paper else ""
            previous_cell = "—" if previous.missing else "n/a" if p is None else fmt.format(p)
            out.append(f"| {row[key]} | {col} |{paper_cell} {previous_cell} | " + " | ".join(cells) + " |")
    return out + [""]


def _claim_rows(previous, runs, prefix) -> list[str]:
    """Verdicts side by side; a changed verdict is "inside the CI" when every comparison both runs state has
    its previous difference inside the new run's 95 % CI."""
    new_claims = [{r["claim"]: r for r in run.table(prefix, "claims")} for run in runs]
    out = ["**Claim verdicts**", "", f"| claim | {previous.name} | " + " | ".join(r.name for r in runs) + " | change |",
           "|:---|:---|" + ":---|" * len(runs) + ":---|"]
    template = previous.table(prefix, "claims") or next((run.table(prefix, "claims") for run in runs
                                                          if run.table(prefix, "claims")), [])
    for row in template:
        prev = {} if previous.missing else row
        cells, notes = [], []
        for run, claims in zip(runs, new_claims):
            new = claims.get(row["claim"])
            cells.append(new["verdict"] if new else "n/a")
            if new and prev and new["verdict"] != prev["verdict"]:
                where = _change(dict(prev, comparisons=comparisons(prev["evidence"])),
                                dict(new, comparisons=comparisons(new["evidence"])))
                notes.append(f"{run.name}: {prev['verdict']} → {new['verdict']}, {where}")
        change = "; ".join(notes) or ("same" if prev else "—")
        out.append(f"| {row['claim']} | {prev.get('verdict', '—')} | " + " | ".join(cells) + f" | {change} |")
    return out + [""]


def compare(previous: Results, runs: list[Results], prefix: str) -> list[str]:
    """Markdown comparing ``runs`` (e.g. two seeds) with ``previous`` for one ``<degradation>_<dataset>``."""
    networks = lambda row: [c for c in row if c not in ("interval", "best") and "true level" not in c]  # noqa: E731
    against = ", ".join(f"`{r.where}`" for r in runs)
    heading = ([f"### {prefix}: {against}, the first run of this sweep (nothing earlier to compare)", ""]
               if previous.missing else [f"### {prefix}: `{previous.where}` against {against}", ""])
    return (heading
            + _number_rows("Interval mean accuracy", previous, runs, prefix, "intervals", networks, "{:.3f}")
            + _number_rows("Restoration: CPSNR gain (dB)", previous, runs, prefix, "psnr", lambda r: ["gain"],
                           "{:+.2f}")
            + _number_rows("Level estimate: mean absolute error", previous, runs, prefix, "mechanism",
                           lambda r: [c for c in r if "MAE" in c], "{:.2f}")
            + _claim_rows(previous, runs, prefix))
