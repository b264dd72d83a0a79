"""How much of the JPEG restoration net's residual to apply, by the image's JPEG quality.

The net tops out near 38 dB whatever its input, so it harms nearly clean images (CIFAR QF 95-100, photos from
QF 85 up). Applying a share alpha(q) of its residual, x + alpha(q) (R(x) - x), with alpha fitted per quality
q on images no stage trained on, keeps every gain where the net helps (alpha = 1 up to about QF 70) and
leaves the input as it is where no share helps (alpha = 0). The quality is the file's own (its quantisation
tables) or, for a decoded image, what its pixels' DCT lattice shows (``keras_irdi.data.jpeg_quality``, exact
for IJG-made JPEGs); ``gate_quality`` says which, and when an image is left alone.

The fit needs three numbers per image (pixel units): <r, d>, |r|^2 and |d|^2 with r = R(x) - x and
d = clean - x, from which the PSNR gain of any alpha follows without running the net again.
"""
from __future__ import annotations

import numpy as np

ALPHAS = np.round(np.linspace(0.0, 1.0, 101), 2)  # the shares tried: steps of 0.01


def residual_products(clean: np.ndarray, degraded: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """(n, 3): <r, d>, |r|^2, |d|^2 per image, r = restored - degraded, d = clean - degraded (any 0..255 scale)."""
    x = degraded.astype(np.float64)
    r, d = restored.astype(np.float64) - x, clean.astype(np.float64) - x
    axes = tuple(range(1, r.ndim))
    return np.stack([(r * d).sum(axes), (r * r).sum(axes), (d * d).sum(axes)], axis=1)


def gains_db(products: np.ndarray, alpha) -> np.ndarray:
    """PSNR(x + alpha r) - PSNR(x) per image (rows of ``residual_products``; alpha one number or one per row)."""
    rd, rr, dd = products[:, 0], products[:, 1], np.maximum(products[:, 2], 1e-6)
    after = np.maximum(dd - 2 * alpha * rd + np.square(alpha) * rr, 1e-6)
    return 10.0 * np.log10(dd / after)


def fit_alpha(domains: list[np.ndarray]) -> float:
    """The share with the best mean PSNR gain over the kinds of image (each: products of its images at one
    quality) among those that no kind loses with, with confidence (its mean gain minus two standard errors
    stays >= 0); 0 (the input as it is) when every share fails that for some kind."""
    domains = [p for p in domains if len(p)]
    gains = [np.stack([gains_db(p, a) for a in ALPHAS]) for p in domains]  # each (alphas, images)
    means = np.array([g.mean(axis=1) for g in gains])  # (kinds, alphas)
    lower = means - 2 * np.array([g.std(axis=1) / np.sqrt(g.shape[1]) for g in gains])
    score = np.where(lower.min(axis=0) >= 0, means.mean(axis=0), -np.inf)
    return float(ALPHAS[int(np.argmax(score))]) if np.isfinite(score).any() and score.max() > 0 else 0.0


def fitted_qualities(step: int = 1) -> list[int]:
    """The qualities a gate is fitted at: 1, 1 + step, ... and always 100."""
    return sorted(set(range(1, 101, int(step))) | {100})


RESAVE_ABOVE = 50  # files at or below this quality are restored at their own quality, whatever lies under them


def gate_quality(pixels: int | None, file: int | None = None) -> int | None:
    """The quality an image's share is chosen by: the file's own (its quantisation tables), else what its
    pixels' DCT lattice shows (a PNG of a decoded JPEG). None -- the image is left as it is -- when neither is
    known, or when a file above RESAVE_ABOVE shows a coarser quality in its pixels: it was saved again from an
    earlier JPEG, and restoring it would undo that earlier compression too. At or below RESAVE_ABOVE the net
    gains on any JPEG (its share is 1 up to about QF 45), and a coarser reading there is mostly the reader's
    error on a block-poor image (0.2-0.4 % of CIFAR test images at every QF 5-75)."""
    if pixels is not None and file is not None and file > RESAVE_ABOVE and pixels < file:
        return None
    return file if file is not None else pixels


MIN_IMAGES = 20  # a kind of image with fewer images at a quality does not decide that quality's share


def fit_table(samples: dict) -> dict:
    """{quality: [products of each kind of image read at that quality]} -> {quality: alpha}; a quality where
    no kind has MIN_IMAGES images is left out (it takes its nearest neighbour's share), unless none has
    anywhere (a tiny run)."""
    table = {}
    for quality, kinds in sorted(samples.items()):
        voting = [p for p in kinds if len(p) >= MIN_IMAGES]
        if voting:
            table[int(quality)] = fit_alpha(voting)
    if not table:  # a run too small for any kind to vote anywhere: fit on what it has
        table = {int(q): fit_alpha(kinds) for q, kinds in sorted(samples.items()) if any(len(p) for p in kinds)}
    return table


def nearest(keys, quality: int) -> int:
    keys = np.array(sorted(int(k) for k in keys))
    return int(keys[np.argmin(np.abs(keys - int(quality)))])


def alpha_for(table: dict, quality: int | None) -> float:
    """The share for an image of ``quality`` ({int quality: share}, as ``RunDir.quality_gate`` reads it; None,
    or an empty table: 0, the image as it is); a quality the table lacks takes its nearest fitted one."""
    if quality is None or not table:
        return 0.0
    return float(table[nearest(table, quality)])


def share_table(gate: dict | None) -> np.ndarray:
    """(101,): the share of the residual at each JPEG quality 1..100, and at index 0 for an image of unknown
    quality (``alpha_for``: 0, the image as it is); without a gate (``--full``, a run that has none) all of it
    at every index. One table so irdi-restore and the SavedModel's ``restore`` signature, which holds it as a
    constant, look up the same share."""
    if gate is None:
        return np.ones(101)
    return np.array([alpha_for(gate, q or None) for q in range(101)])
