"""Result tables from a sweep: interval mean accuracy, CPSNR, comparison with the paper, claims, CIFAR-10-C,
mechanism; and ``write_all_tables``, which writes them all for a run.

Every table function returns a :class:`~keras_irdi.reporting.rendering.Table` (``header``, ``rows`` of raw values,
per-column ``formats`` for Markdown). Nothing here imports TensorFlow/Keras: the tables can be rebuilt anywhere
from the sweep files. What a partial sweep lacks is missing (``None``, "n/a" in Markdown, an empty CSV cell),
never raised.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_irdi.datasets import display_name as dataset_display
from keras_irdi.reporting import confidence, paper_results
from keras_irdi.reporting.claims import claim_verdicts
from keras_irdi.degradations import get_degradation
from keras_irdi.network_ids import ORACLE, ORACLE_DISPLAY, display_names
from keras_irdi.reporting.rendering import ACC, DB, DB_DIFF, DIFF, LEVEL, Table
from keras_irdi.json_files import write_atomic, write_json  # TensorFlow-free, as everything here
from keras_irdi.reporting.sweep_files import (NETWORK_COLUMNS, display_name, find_sweeps,
                                             interval_label, interval_mean, interval_means, read_sweep, value_at)


def _diff(a, b):
    return None if a is None or b is None else a - b


def interval_table(sweep, degradation, dataset: str | None = None) -> Table:
    """Interval mean accuracy of the six networks on every interval (the layout of Tables 3, 4, 6), and the
    oracle Proposed (true level) beside them when the sweep has it -- shown, never counted as the best."""
    names = display_names(degradation)
    oracle = f"acc_{ORACLE}"
    oracle = oracle if oracle in sweep and np.isfinite(sweep[oracle]).any() else None  # older sweeps lack it
    columns = NETWORK_COLUMNS + ((oracle,) if oracle else ())
    rows = []
    for iv, means in interval_means(sweep, degradation, columns).items():
        values = [means[c] for c in NETWORK_COLUMNS]
        best = None
        if all(v is not None for v in values):
            best = names[int(np.argmax(values))]
        rows.append([interval_label(iv)] + values + [best] + ([means[oracle]] if oracle else []))
    step = get_degradation(degradation).level_step
    grid = "integer level" if step == 1 else f"level of the {step:g}-step grid"
    notes = [f"mean of the accuracies at every {grid} of the interval (paper, section 4.2); "
             f"n/a = the sweep lacks some {grid} of the interval"]
    if oracle:
        notes.append(f"{ORACLE_DISPLAY} (oracle, not a competitor): the same weight net fed the true level instead "
                     "of the estimate; its gap to Proposed is what a perfect level estimator would buy")
    header = ["interval", *names, "best"] + ([f"{ORACLE_DISPLAY}, oracle"] if oracle else [])
    return Table(f"Interval mean accuracy, {display_name(degradation, dataset)}", header, rows,
                 [None] + [ACC] * len(names) + [None] + ([ACC] if oracle else []), notes)


def psnr_table(sweep, degradation, dataset: str | None = None) -> Table:
    """CPSNR [dB] of degraded and restored images at the paper's levels, with the paper's Table 2/5."""
    deg = get_degradation(degradation)
    paper = paper_results.cpsnr_table(degradation, dataset) if dataset else None
    rows = []
    for level in deg.psnr_levels:
        d = value_at(sweep, "psnr_degraded", level)
        r = value_at(sweep, "psnr_restored", level)
        pd_ = pr = None
        if paper is not None and level in paper["levels"]:
            j = paper["levels"].index(level)
            pd_, pr = paper["degraded"][j], paper["restored"][j]
        rows.append([level, d, r, _diff(r, d), pd_, pr, _diff(d, pd_), _diff(r, pr)])
    header = [deg.short, "degraded", "restored", "gain",
              "paper degraded", "paper restored", "diff degraded", "diff restored"]
    notes = ["CPSNR in dB over the three colour channels, peak 255; diff = ours - paper"]
    notes.append(f"paper: {paper['source']}" if paper else
                 f"the paper reports no CPSNR for {display_name(degradation, dataset or '?')}")
    return Table(f"CPSNR of degraded and restored images, {display_name(degradation, dataset)}", header, rows,
                 [LEVEL, DB, DB, DB_DIFF, DB, DB, DB_DIFF, DB_DIFF], notes)


def comparison_table(sweep, degradation, dataset) -> Table:
    """One row per (interval, network): our interval mean accuracy, the paper's, and ours - paper."""
    names = display_names(degradation)
    paper = paper_results.interval_table(degradation, dataset)
    rows = []
    for iv, means in interval_means(sweep, degradation).items():
        paper_row = paper["values"].get(tuple(iv)) if paper else None
        for k, (col, name) in enumerate(zip(NETWORK_COLUMNS, names)):
            theirs = paper_row[k] if paper_row is not None else None
            rows.append([interval_label(iv), name, means[col], theirs, _diff(means[col], theirs)])
    notes = [f"paper: {paper['source']}" if paper else
             f"the paper reports no interval table for {display_name(degradation, dataset)}"]
    return Table(f"Ours vs the paper, interval mean accuracy, {display_name(degradation, dataset)}",
                 ["interval", "network", "ours", "paper", "diff"], rows, [None, None, ACC, ACC, DIFF], notes)


def claims_table(sweep, degradation, dataset, per_image=None) -> Table:
    """The paper's claims with our verdict and evidence (keras_irdi.reporting.claims), one row per claim."""
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
    names = display_names(degradation)
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
        notes.append(f"the reference numbers are for CIFAR-10-C, not {dataset_display(dataset)}")
    notes.append("ours = accuracy of each network at that exact level of the sweep (n/a if not swept)")
    header = ["severity", deg.short, *names, *models]
    return Table(f"CIFAR-10-C severities, {display_name(degradation, dataset)}", header, rows,
                 [None, LEVEL] + [ACC] * (len(names) + len(models)), notes)


def mechanism_table(sweep, degradation, dataset: str | None = None) -> Table:
    """Does the level -> weight mechanism work, and could it help? One row per paper interval.

    The estimated level and its error say whether the estimator follows the level; w_org says whether the
    weight net turns that into level-dependent weights. "best Seq per level" is the interval mean of
    max(Seq(org), Seq(res)) at each level: what a perfect choice of one sequential network per level
    reaches, to set beside Proposed and Cla(deg) when deciding what limits Proposed.
    """
    names = dict(zip(NETWORK_COLUMNS, display_names(degradation)))
    deg = get_degradation(degradation)
    needed = ("level_est_mean", "level_mae", "w_org", "acc_seq_org", "acc_seq_res", "acc_proposed", "acc_cla_deg")
    view = dict(sweep)
    if all(c in sweep for c in needed):  # an older sweep CSV without these columns gives n/a rows
        view["best_seq"] = np.maximum(sweep["acc_seq_org"], sweep["acc_seq_res"])
    columns = ("level_est_mean", "level_mae", "w_org", "best_seq", "acc_proposed", "acc_cla_deg")
    # The interval table's rule for every column: all integer levels of the interval, or n/a.
    rows = [[interval_label(iv)] + ([interval_mean(view, c, *iv, deg.level_step) for c in columns] if "best_seq" in view
                                     else [None] * len(columns))
            for iv in deg.intervals]
    short = deg.short
    notes = [f"means over the integer levels of each interval; estimated {short} and its mean absolute error "
             f"come from the level estimator, w_org from the weight net (weight of Seq(org))",
             "best Seq per level = mean of max(Seq(org), Seq(res)) at each level: a perfect per-level choice "
             "between the two sequential networks"]
    return Table(f"Level, weights and what they could gain, {display_name(degradation, dataset)}",
                 ["interval", f"estimated {short}", f"{short} MAE", "w_org", "best Seq per level",
                  names["acc_proposed"], names["acc_cla_deg"]], rows,
                 [None, "{:.1f}", "{:.1f}", "{:.3f}", ACC, ACC, ACC], notes)


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
    write_json(json_path, data)


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
            write_atomic(md_path, table.to_markdown(level=2))
            table.to_csv(csv_path)
            written += [md_path, csv_path]
            summary.append(table.to_markdown(level=3))
    summary_path = out / "SUMMARY.md"
    write_atomic(summary_path, "\n".join(summary))
    written.append(summary_path)
    return written
