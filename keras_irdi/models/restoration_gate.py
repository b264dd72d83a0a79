"""How much of the JPEG restoration net's residual to apply, by the image's JPEG quality.

The net tops out near 38 dB whatever its input, so it harms nearly clean images (CIFAR QF 95-100, photos from
QF 85 up). Applying a share alpha(q) of its residual, x + alpha(q) (R(x) - x), with alpha fitted per quality
q on images no stage trained on, keeps every gain where the net helps (alpha = 1 up to about QF 70) and
leaves the input as it is where no share helps (alpha = 0). The quality comes from the file's quantisation
tables or, for decoded pixels, from their DCT lattice (``keras_irdi.data.jpeg_quality``), both exact for
IJG-made JPEGs; an image showing no lattice was not JPEG-compressed on its grid and is left as it is.

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
    """The share with the best mean PSNR gain over the domains (each: products of its images at one quality)
    among those that harm no domain on average; 0 (the input as it is) when every share harms one."""
    gains = np.array([[gains_db(p, a).mean() for a in ALPHAS] for p in domains if len(p)])  # (domains, alphas)
    score = np.where(gains.min(axis=0) >= 0, gains.mean(axis=0), -np.inf)
    return float(ALPHAS[int(np.argmax(score))]) if np.isfinite(score).any() and score.max() > 0 else 0.0


def fitted_qualities(step: int = 1) -> list[int]:
    """The qualities a gate is fitted at: 1, 1 + step, ... and always 100."""
    return sorted(set(range(1, 101, int(step))) | {100})


def fit_table(products_by_quality: dict) -> dict:
    """{quality: [products of domain 1, products of domain 2, ...]} -> {quality: alpha}."""
    return {int(q): fit_alpha(domains) for q, domains in sorted(products_by_quality.items())}


def alpha_for(table: dict, quality: int | None) -> float:
    """The share for an image of ``quality`` (None: no JPEG lattice -> 0, left as it is); a quality the table
    lacks takes its nearest fitted one."""
    if quality is None:
        return 0.0
    keys = np.array(sorted(int(k) for k in table))
    nearest = int(keys[np.argmin(np.abs(keys - int(quality)))])
    return float(table[nearest] if nearest in table else table[str(nearest)])
