"""Evaluation metrics of the paper: accuracy, interval mean accuracy (section 4.2), CPSNR."""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from keras_irdi.errors import InputError


def accuracy(probabilities, labels) -> float:
    """Fraction of samples whose arg-max class equals the label."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def interval_mean_accuracy(levels, accuracies, low, high, step: float = 1.0) -> float:
    """Acc(theta; Ql, Qu) = sum_{q=Ql}^{Qu} Acc(q) / (Qu - Ql + 1), eq. of section 4.2.

    The sum runs over the level grid (integers for the paper's degradations; ``step`` 0.1 for blur).
    Every grid level in [low, high] must have been evaluated: a missing level would silently change the
    denominator, so it is an error instead.
    """
    rows = interval_rows(levels, low, high, step)
    return sum(float(accuracies[i]) for i in rows) / len(rows)


def interval_rows(levels, low, high, step: float = 1.0) -> list:
    """Indices into ``levels`` of every grid level in [low, high], in order; an error if one is missing.

    The one definition of an interval's levels, shared by the interval means and their bootstrap CIs.
    Levels off the grid (e.g. the CIFAR-10-C sigmas the sweep adds) are not part of an interval.
    """
    index = {}
    for i, level in enumerate(levels):
        k = float(level) / step
        if abs(k - round(k)) < 1e-6:
            index[int(round(k))] = i
    wanted = range(int(round(low / step)), int(round(high / step)) + 1)
    missing = [round(k * step, 6) if step != 1 else k for k in wanted if k not in index]
    if missing:
        raise InputError(f"interval ({low},{high}) needs every level of its grid; missing {missing[:5]}"
                         f"{'...' if len(missing) > 5 else ''} (run the sweep with step 1)")
    return [index[k] for k in wanted]


def cpsnr(reference, test) -> float:
    """Colour PSNR: one MSE over all pixels and the three channels, 8-bit peak 255 (Tables 2, 5).

    Inputs are uint8 or float on the 0..255 scale; scikit-image computes it. For a batch the MSE is
    pooled over the whole batch (the identical-images case gives inf).
    """
    ref = np.asarray(reference, np.float64)
    tst = np.asarray(test, np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"cpsnr needs equal shapes, got {ref.shape} and {tst.shape}")
    if np.array_equal(ref, tst):  # level 0 of a sweep: scikit-image would warn of a division by zero
        return float("inf")
    return float(peak_signal_noise_ratio(ref, tst, data_range=255))


def mean_cpsnr(reference, test) -> float:
    """Mean over images of the per-image CPSNR (the usual test-set convention in restoration papers)."""
    return float(np.mean([cpsnr(r, t) for r, t in zip(reference, test)]))
