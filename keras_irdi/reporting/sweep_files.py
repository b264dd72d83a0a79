"""The sweep files: their columns, finding and reading them, and the values tables and figures take out.

``irdi sweep`` writes ``RUN/eval/<degradation>_<dataset>.csv`` (one row per level, ``COLUMNS``) and a
``.json`` beside it. Reading needs no TensorFlow, so tables and figures can be rebuilt anywhere. A partial
sweep (only some levels) is fine: what an interval or a level needs and the sweep lacks comes back as None.
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from keras_irdi.datasets import display_name as dataset_display
from keras_irdi.degradations import DEGRADATIONS, get_degradation
from keras_irdi.errors import MissingError
from keras_irdi.metrics import interval_mean_accuracy
from keras_irdi.network_ids import NETWORKS, ORACLE

# Accuracy column of each network, in NETWORKS order, and every column of a sweep CSV.
NETWORK_COLUMNS: tuple[str, ...] = tuple(f"acc_{net}" for net in NETWORKS)
COLUMNS: tuple[str, ...] = ("level", *NETWORK_COLUMNS, f"acc_{ORACLE}", "psnr_degraded", "psnr_restored",
                            "level_mae", "level_bias", "level_est_mean", "level_est_std", "w_org", "w_res",
                            "w_deg")
_TOL = 1e-6


class NoSweepError(MissingError):
    """RUN/eval holds no sweep CSV (the sweep has not been run yet): a user error, one line at the CLI."""


def no_sweep_message(run_dir) -> str:
    return f"no sweep CSV in {Path(run_dir) / 'eval'}: run irdi sweep --run-dir {run_dir} first"


def display_name(degradation: str, dataset: str | None = None) -> str:
    """The paper's name of the degraded dataset, e.g. ``"JPEG CIFAR-10"`` (``"JPEG"`` without a dataset)."""
    deg = get_degradation(degradation).display
    return f"{deg} {dataset_display(dataset)}" if dataset else deg


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


def interval_label(interval) -> str:
    """E.g. ``"(1,20)"``, as the paper writes an interval."""
    return f"({interval[0]:g},{interval[1]:g})"


def interval_mean(sweep, column, low, high, step: float = 1.0):
    """Mean of ``column`` over every level of the grid (``step``: the degradation's ``level_step``) in
    [low, high]; None if the sweep lacks one of them."""
    if column not in sweep:
        return None
    try:
        value = interval_mean_accuracy(sweep["level"], sweep[column], low, high, step)
    except ValueError:  # an integer level of the interval was not evaluated
        return None
    return None if not math.isfinite(value) else float(value)


def interval_means(sweep, degradation, columns=NETWORK_COLUMNS) -> dict:
    """``{(lo, hi): {column: mean accuracy or None}}`` over the degradation's intervals."""
    deg = get_degradation(degradation)
    return {iv: {col: interval_mean(sweep, col, *iv, deg.level_step) for col in columns} for iv in deg.intervals}


def value_at(sweep, column, level):
    """The sweep's value of ``column`` at ``level`` (exact match), or None."""
    if column not in sweep:
        return None
    hit = np.flatnonzero(np.abs(sweep["level"] - float(level)) <= _TOL)
    if hit.size == 0:
        return None
    value = float(sweep[column][hit[0]])
    return value if math.isfinite(value) else None
