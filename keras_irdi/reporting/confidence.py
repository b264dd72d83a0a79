"""Per-image correctness of a sweep and paired bootstrap confidence intervals for accuracy differences.

1000 test images give one accuracy a standard error of about 0.015, so a difference between two networks
of a few points may be noise. The sweep stores, for every network, level and test image, whether the
prediction was right (``RUN/eval/<degradation>_<dataset>_correct.npz``, bit-packed); a claim such as
"Proposed > Seq(org) on (1,20)" is then decided by a paired bootstrap over test images: both networks are
scored on the same resampled images, at every level of the interval. Nothing here imports TensorFlow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_irdi.metrics import interval_rows

N_RESAMPLES = 2000
SEED = 0


def correct_path(csv_path) -> Path:
    """Where the per-image file of a sweep CSV lives."""
    p = Path(csv_path)
    return p.with_name(p.stem + "_correct.npz")


def write_correct(path, levels, correct: dict) -> None:
    """``correct``: {network id: bool array (levels, images)}; written bit-packed along the image axis."""
    nets = sorted(correct)
    stacked = np.stack([np.asarray(correct[n], bool) for n in nets])  # (nets, levels, images)
    np.savez_compressed(path, networks=np.array(nets), levels=np.asarray(levels, np.float64),
                        n_images=np.int64(stacked.shape[-1]), bits=np.packbits(stacked, axis=-1))


class PerImage:
    """Per-image correctness of one sweep; :meth:`diff_ci` gives a paired bootstrap interval."""

    def __init__(self, levels, correct: dict):
        self.levels = np.asarray(levels, np.float64)
        self.correct = correct

    @classmethod
    def read(cls, path) -> "PerImage | None":
        """The per-image file, or None if the sweep has none (made before it existed)."""
        path = Path(path)
        if not path.is_file():
            return None
        with np.load(path) as f:
            n = int(f["n_images"])
            bits = np.unpackbits(f["bits"], axis=-1, count=n).astype(bool)
            return cls(f["levels"], dict(zip(f["networks"].tolist(), bits)))

    def diff_ci(self, a: str, b: str, low, high, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                step: float = 1.0):
        """(difference, lower, upper): interval mean accuracy of ``a`` minus ``b`` over [low, high] and its
        95% percentile interval from ``n_resamples`` paired resamples of the test images; None if the
        per-image data lacks a network or a level."""
        try:  # the interval's levels on the sweep's grid (``step``), as the interval means take them
            rows = interval_rows(self.levels, low, high, step)
        except ValueError:
            return None
        if a not in self.correct or b not in self.correct:
            return None
        # Per image: its accuracy over the interval's levels, for a minus for b (the pairing).
        d = self.correct[a][rows].mean(axis=0) - self.correct[b][rows].mean(axis=0)
        return paired_ci(d, n_resamples, seed)


def paired_ci(d, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> tuple[float, float, float]:
    """(mean, lower, upper) of per-image differences ``d`` (one network's score minus another's on the same
    images): the 95% percentile interval of the mean over ``n_resamples`` resamples of the images."""
    d = np.asarray(d, np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 250):  # chunks keep the index array small
        idx = rng.integers(0, d.size, size=(min(250, n_resamples - start), d.size))
        means[start:start + len(idx)] = d[idx].mean(axis=1)
    lower, upper = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lower), float(upper)


def verdict(ci) -> str:
    """'holds' if the whole interval is above 0, 'fails' if below, 'tie' if it contains 0."""
    _, lower, upper = ci
    return "holds" if lower > 0 else "fails" if upper < 0 else "tie"


def combine(verdicts) -> str:
    """A claim over several comparisons: fails if any fails, else tie if any is a tie, else holds."""
    verdicts = list(verdicts)
    for v in ("fails", "n/a", "tie"):
        if v in verdicts:
            return v
    return "holds"
