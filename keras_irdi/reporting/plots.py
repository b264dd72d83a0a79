"""Figures of a run from its sweep CSVs (matplotlib, Agg canvas; no TensorFlow/Keras).

``make_figures(run_dir)`` writes, for every ``RUN/eval/<degradation>_<dataset>.csv``, PNG and PDF files
into ``RUN/figures``:

- ``accuracy_<deg>_<dataset>``: accuracy of the six networks vs level, the paper's intervals shaded
  (the paper's Figs. 3-5, whose images did not survive in the text);
- ``intervals_<deg>_<dataset>``: interval mean accuracy, ours as bars, the paper's table as markers;
- ``cpsnr_<deg>_<dataset>``: CPSNR of degraded and restored images vs level (paper's Table 2/5 as markers);
- ``level_estimate_<deg>_<dataset>``: estimated vs true level, mean +- std band, identity line;
- ``weights_<deg>_<dataset>``: mean ensemble weights w_org, w_res vs level;
- ``examples_<deg>_<dataset>``: clean / degraded / restored examples, if ``*_examples.npz`` exists.

A figure whose columns are absent (or all blank) in the CSV is skipped.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from keras_irdi.reporting import paper_results
from keras_irdi.degradations import get_degradation
from keras_irdi.network_ids import ORACLE, ORACLE_DISPLAY, display_names
from keras_irdi.json_files import write_atomic
from keras_irdi.reporting.sweep_files import (NETWORK_COLUMNS, display_name, find_sweeps, interval_label,
                                             interval_means, read_sweep)

FIGSIZE = (6.4, 4.2)
DPI = 150
# One fixed style per network, the same in every figure.
STYLES = {
    "acc_cla_org": dict(color="tab:blue", linestyle="--", linewidth=1.3),
    "acc_cla_deg": dict(color="tab:orange", linestyle="--", linewidth=1.3),
    "acc_seq_org": dict(color="tab:green", linestyle="-", linewidth=1.3),
    "acc_seq_res": dict(color="tab:red", linestyle="-", linewidth=1.3),
    "acc_ens_cla": dict(color="tab:purple", linestyle=":", linewidth=1.6),
    "acc_proposed": dict(color="black", linestyle="-", linewidth=2.0),
    f"acc_{ORACLE}": dict(color="0.55", linestyle=(0, (1, 1.5)), linewidth=1.8),  # grey dots: an oracle
}


def _new_figure(figsize=FIGSIZE) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """The figure as PNG and PDF, each drawn in memory and written whole or not at all (a full disk leaves
    no truncated PDF)."""
    paths = []
    for ext, options in (("png", {"dpi": DPI}), ("pdf", {"metadata": {"CreationDate": None}})):
        drawn = io.BytesIO()
        fig.savefig(drawn, format=ext, **options)
        paths.append(out_dir / f"{name}.{ext}")
        write_atomic(paths[-1], drawn.getvalue())
    return paths


def _has(sweep, *columns) -> bool:
    return all(c in sweep and np.isfinite(sweep[c]).any() for c in columns)


def _xlabel(degradation):
    return get_degradation(degradation).axis_label


def _title(degradation, dataset, what, meta):
    n = meta.get("n_images")
    return f"{display_name(degradation, dataset)}: {what}" + (f" ({n} images)" if n else "")


def _mark_intervals(ax, degradation):
    """Alternate light shading over the paper's sub-intervals, each labelled at the top."""
    deg = get_degradation(degradation)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (lo, hi) in enumerate(deg.sub_intervals):
        left, right = max(lo - 0.5, deg.low), min(hi + 0.5, deg.high)
        if i % 2 == 0:
            ax.axvspan(left, right, color="0.5", alpha=0.09, linewidth=0, zorder=0)
        ax.text((left + right) / 2, 0.985, interval_label((lo, hi)), transform=trans, ha="center", va="top",
                fontsize=7, color="0.35")
    ax.set_xlim(deg.low - 0.5, deg.high + 0.5)


def _line(ax, x, y, **style):
    ok = np.isfinite(y)
    if not ok.any():
        return None
    marker = "o" if ok.sum() <= 25 else None
    return ax.plot(x[ok], y[ok], marker=marker, markersize=3.5, **style)


def plot_accuracy(sweep, degradation, dataset, meta=None) -> Figure | None:
    cols = [c for c in NETWORK_COLUMNS if _has(sweep, c)]
    if not cols:
        return None
    names = dict(zip(NETWORK_COLUMNS, display_names(degradation)))
    if _has(sweep, f"acc_{ORACLE}"):  # drawn beside the six, marked as what it is
        cols.append(f"acc_{ORACLE}")
        names[f"acc_{ORACLE}"] = f"{ORACLE_DISPLAY}, oracle"
    fig = _new_figure()
    ax = fig.add_subplot()
    _mark_intervals(ax, degradation)
    for c in cols:
        _line(ax, sweep["level"], sweep[c], label=names[c], **STYLES[c])
    ax.set_xlabel(_xlabel(degradation))
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.06)
    ax.grid(True, alpha=0.3)
    # accuracy rises with the image quality: where that is to the right, the lower right stays empty
    ax.legend(loc="lower right" if get_degradation(degradation).quality_rises else "best", ncol=2, fontsize=8,
              framealpha=0.9)
    ax.set_title(_title(degradation, dataset, "accuracy", meta or {}), fontsize=10)
    return fig


def plot_intervals(sweep, degradation, dataset, meta=None) -> Figure | None:
    if not any(c in sweep for c in NETWORK_COLUMNS):
        return None
    means = interval_means(sweep, degradation)  # intervals the sweep does not cover are drawn as "n/a"
    paper = paper_results.interval_table(degradation, dataset)
    names = display_names(degradation)
    fig = _new_figure()
    ax = fig.add_subplot()
    ivs = list(means)
    width = 0.8 / len(NETWORK_COLUMNS)
    x = np.arange(len(ivs))
    for k, (col, name) in enumerate(zip(NETWORK_COLUMNS, names)):
        pos = x - 0.4 + width * (k + 0.5)
        ours = np.array([np.nan if means[iv][col] is None else means[iv][col] for iv in ivs])
        ax.bar(pos, np.nan_to_num(ours), width * 0.92, color=STYLES[col]["color"], alpha=0.75, label=name)
        if paper is not None:
            theirs = [paper["values"][tuple(iv)][k] if tuple(iv) in paper["values"] else np.nan for iv in ivs]
            ax.plot(pos, theirs, linestyle="none", marker="_", markersize=9, markeredgewidth=2, color="black",
                    label=f"paper ({paper['table']})" if k == 0 else None)
        for p, v in zip(pos, ours):
            if not np.isfinite(v):
                ax.text(p, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, [interval_label(iv) for iv in ivs])
    ax.set_xlabel(f"interval of {_xlabel(degradation)}")
    ax.set_ylabel("interval mean accuracy")
    ax.set_ylim(0, 1.12)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", ncol=4, fontsize=7, framealpha=0.9)
    ax.set_title(_title(degradation, dataset, "interval mean accuracy, ours (bars) vs paper", meta or {}),
                 fontsize=10)
    return fig


def plot_cpsnr(sweep, degradation, dataset, meta=None) -> Figure | None:
    if not (_has(sweep, "psnr_degraded") or _has(sweep, "psnr_restored")):
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    for col, label, color in (("psnr_degraded", "degraded", "tab:gray"), ("psnr_restored", "restored", "tab:red")):
        if _has(sweep, col):
            _line(ax, sweep["level"], sweep[col], label=label, color=color, linewidth=1.5)
    paper = paper_results.cpsnr_table(degradation, dataset)
    if paper is not None:
        ax.plot(paper["levels"], paper["degraded"], "s", color="tab:gray", markerfacecolor="none",
                label=f"degraded, paper {paper['table']}")
        ax.plot(paper["levels"], paper["restored"], "o", color="tab:red", markerfacecolor="none",
                label=f"restored, paper {paper['table']}")
    deg = get_degradation(degradation)
    ax.set_xlim(deg.low - 0.5, deg.high + 0.5)
    ax.set_xlabel(_xlabel(degradation))
    ax.set_ylabel("CPSNR [dB]")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(_title(degradation, dataset, "CPSNR of degraded and restored images", meta or {}), fontsize=10)
    return fig


def plot_level_estimate(sweep, degradation, dataset, meta=None) -> Figure | None:
    if not _has(sweep, "level_est_mean"):
        return None
    deg = get_degradation(degradation)
    level, mean = sweep["level"], sweep["level_est_mean"]
    std = sweep["level_est_std"] if "level_est_std" in sweep else np.full_like(mean, np.nan)
    fig = _new_figure()
    ax = fig.add_subplot()
    ok = np.isfinite(mean) & np.isfinite(std)
    if ok.any():
        ax.fill_between(level[ok], mean[ok] - std[ok], mean[ok] + std[ok], color="tab:blue", alpha=0.2,
                        linewidth=0, label="mean ± std")
    _line(ax, level, mean, color="tab:blue", linewidth=1.5, label="mean estimate")
    ax.plot([deg.low, deg.high], [deg.low, deg.high], "--", color="0.4", linewidth=1, label="identity")
    short = deg.short
    if _has(sweep, "level_mae"):
        mae = np.nanmean(sweep["level_mae"])
        text = f"MAE {mae:.2f} {short}"
        if _has(sweep, "level_bias"):
            text += f", bias {np.nanmean(sweep['level_bias']):+.2f}"
        ax.text(0.98, 0.03, text + " (mean over levels)", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=8, bbox=dict(facecolor="white", edgecolor="0.8", alpha=0.9))
    pad = 0.02 * (deg.high - deg.low)
    ax.set_xlim(deg.low - pad, deg.high + pad)
    ax.set_ylim(deg.low - 4 * pad, deg.high + 4 * pad)
    ax.set_xlabel(f"true {_xlabel(degradation)}")
    ax.set_ylabel(f"estimated {short}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(_title(degradation, dataset, "estimated vs true level", meta or {}), fontsize=10)
    return fig


def plot_weights(sweep, degradation, dataset, meta=None) -> Figure | None:
    if not (_has(sweep, "w_org") or _has(sweep, "w_res")):
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    _mark_intervals(ax, degradation)
    for col, label, color in (("w_org", "w_org (Seq(org))", "tab:green"), ("w_res", "w_res (Seq(res))", "tab:red")):
        if _has(sweep, col):
            _line(ax, sweep["level"], sweep[col], label=label, color=color, linewidth=1.6)
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel(_xlabel(degradation))
    ax.set_ylabel("mean ensemble weight")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right", fontsize=8, framealpha=0.9)
    ax.set_title(_title(degradation, dataset, "ensemble weights of the proposed network", meta or {}),
                 fontsize=10)
    return fig


def plot_examples(npz_path, degradation, dataset, max_images: int = 3, max_levels: int = 6) -> Figure | None:
    """Rows: levels; per example image three columns: clean, degraded, restored."""
    try:
        with np.load(npz_path) as data:
            clean, levels = data["clean"], data["levels"]
            degraded, restored = data["degraded"], data["restored"]
    except (OSError, KeyError, ValueError) as exc:
        warnings.warn(f"skipping examples {npz_path}: {exc}")
        return None
    if clean.ndim != 4 or degraded.ndim != 5 or degraded.shape != restored.shape \
            or degraded.shape[:2] != (len(levels), len(clean)) or len(levels) == 0 or len(clean) == 0:
        warnings.warn(f"skipping examples {npz_path}: unexpected shapes clean {clean.shape}, "
                      f"degraded {degraded.shape}, restored {restored.shape}, levels {levels.shape}")
        return None
    k, m = min(len(clean), max_images), min(len(levels), max_levels)
    rows = np.unique(np.round(np.linspace(0, len(levels) - 1, m)).astype(int))
    ncols = 3 * k
    fig = _new_figure(figsize=(1.05 * ncols + 0.6, 1.1 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    short = get_degradation(degradation).short
    for r, li in enumerate(rows):
        for j in range(k):
            for c, (img, label) in enumerate(((clean[j], "clean"), (degraded[li, j], "degraded"),
                                              (restored[li, j], "restored"))):
                ax = axes[r, 3 * j + c]
                ax.imshow(np.asarray(img, np.uint8), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(label, fontsize=8)
                if 3 * j + c == 0:
                    ax.set_ylabel(f"{short} {float(levels[li]):g}", fontsize=8)
    fig.suptitle(f"{display_name(degradation, dataset)}: examples", fontsize=10)
    return fig


def make_figures(run_dir, out_dir=None) -> list[Path]:
    """Draw every figure for every sweep CSV of ``run_dir`` into ``out_dir`` (default ``RUN/figures``).

    Returns the written PNG and PDF paths. Raises ``sweeps.NoSweepError`` if RUN/eval has no sweep CSV.
    """
    sweeps = find_sweeps(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for sf in sweeps:
        sweep = read_sweep(sf.csv_path)
        stem = f"{sf.degradation}_{sf.dataset}"
        for name, draw in (("accuracy", plot_accuracy), ("intervals", plot_intervals), ("cpsnr", plot_cpsnr),
                           ("level_estimate", plot_level_estimate), ("weights", plot_weights)):
            fig = draw(sweep, sf.degradation, sf.dataset, sf.meta)
            if fig is not None:
                written += _save(fig, out, f"{name}_{stem}")
        npz = sf.csv_path.with_name(f"{sf.csv_path.stem}_examples.npz")
        if npz.is_file():
            fig = plot_examples(npz, sf.degradation, sf.dataset)
            if fig is not None:
                written += _save(fig, out, f"examples_{stem}")
    return written


__all__ = ["make_figures", "plot_accuracy", "plot_intervals", "plot_cpsnr", "plot_level_estimate",
           "plot_weights", "plot_examples"]
