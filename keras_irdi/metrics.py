"""Evaluation metrics of the paper: accuracy, interval mean accuracy (section 4.2), CPSNR."""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio


def accuracy(probabilities, labels) -> float:
    """Fraction of samples whose arg-max class equals the label."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def interval_mean_accuracy(levels, accuracies, low, high) -> float:
    """Acc(theta; Ql, Qu) = sum_{q=Ql}^{Qu} Acc(q) / (Qu - Ql + 1), eq. of section 4.2.

    Every integer level in [low, high] must have been evaluated: a missing level would silently change
    the denominator, so it is an error instead.
    """
    # Non-integer levels (e.g. the CIFAR-10-C sigmas the sweep adds) are not part of an interval.
    table = {int(l): float(a) for l, a in zip(levels, accuracies) if float(l) == int(float(l))}
    wanted = range(int(low), int(high) + 1)
    missing = [q for q in wanted if q not in table]
    if missing:
        raise ValueError(f"interval ({low},{high}) needs every integer level; missing {missing[:5]}"
                         f"{'...' if len(missing) > 5 else ''} (run the sweep with step 1)")
    return sum(table[q] for q in wanted) / (int(high) - int(low) + 1)


def cpsnr(reference, test) -> float:
    """Colour PSNR: one MSE over all pixels and the three channels, 8-bit peak 255 (Tables 2, 5).

    Inputs are uint8 or float on the 0..255 scale; scikit-image computes it. For a batch the MSE is
    pooled over the whole batch (the identical-images case gives inf).
    """
    ref = np.asarray(reference, np.float64)
    tst = np.asarray(test, np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"cpsnr needs equal shapes, got {ref.shape} and {tst.shape}")
    return float(peak_signal_noise_ratio(ref, tst, data_range=255))


def mean_cpsnr(reference, test) -> float:
    """Mean over images of the per-image CPSNR (the usual test-set convention in restoration papers)."""
    return float(np.mean([cpsnr(r, t) for r, t in zip(reference, test)]))
