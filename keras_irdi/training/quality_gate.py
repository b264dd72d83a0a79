"""The restoration stage's quality gate: how much of the residual to apply at each JPEG quality, fitted on
images the net never saw (the rule is in ``keras_irdi.models.restoration_gate``).

Three kinds of image, each required to gain on average at every quality: the validation split (the domain
the classifiers are judged on), clean photos at their own resolution, and the same photos JPEG-compressed
once before at a camera's or photo site's quality (85-98) -- the state most real photos arrive in, and that of
the BSD100 and Urban100 references (their pixels read QF 95 and 96). On such a photo, compressing it again at
a high quality changes almost nothing, so a net that removes the earlier compression's blocking costs dB
against the photo as it was: the gate must leave those alone as well.
"""
from __future__ import annotations

import numpy as np

from keras_irdi.degradations import degrade
from keras_irdi.models.restoration_gate import fit_table, fitted_qualities, residual_products

PER_QUALITY = 500  # validation images per quality (a different slice at each)
PHOTO_CROP = 128  # photos are fitted on a centre crop at their own scale (one size: one batch per quality)
PRECOMPRESSED = (85, 98)  # the qualities photos were compressed at before they reach the gate
MAX_PHOTOS = 100


def _restore(model, images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, 3) of one size -> the net's output, float 0..255 (before any rounding: the gate mixes)."""
    out = [np.asarray(model(images[i:i + 256].astype(np.float32) / 255.0, training=False))
           for i in range(0, len(images), 256)]
    return np.concatenate(out) * 255.0


def _products(model, clean: np.ndarray, quality: int) -> np.ndarray:
    degraded = degrade(clean, "jpeg", quality)
    return residual_products(clean, degraded, _restore(model, degraded))


def centre_crop(image: np.ndarray, size: int = PHOTO_CROP) -> np.ndarray:
    top, left = max(0, (image.shape[0] - size) // 2), max(0, (image.shape[1] - size) // 2)
    return image[top:top + size, left:left + size]


def fit_quality_gate(model, val_images: np.ndarray, photos=(), seed: int = 0, step: int = 1,
                     per_quality: int = PER_QUALITY, report=None) -> dict:
    """{quality: alpha} for the restoration ``model`` (float 0..1 in and out), from uint8 validation images
    (one size) and clean photos (any sizes; those smaller than the crop are left out; none: the validation
    split alone)."""
    rng = np.random.default_rng(seed)
    crops = [centre_crop(p) for p in photos if min(p.shape[:2]) >= PHOTO_CROP][:MAX_PHOTOS]
    domains_of_photos = []
    if crops:
        crops = np.stack(crops)
        earlier = rng.integers(PRECOMPRESSED[0], PRECOMPRESSED[1] + 1, len(crops))
        domains_of_photos = [crops, degrade(crops, "jpeg", earlier)]
    n = min(per_quality, len(val_images))
    products = {}
    for quality in fitted_qualities(step):
        pick = (np.arange(n) + quality * 37) % len(val_images)
        domains = [_products(model, images, quality) for images in [val_images[pick], *domains_of_photos]]
        products[quality] = domains
        if report and quality % 20 == 0:
            report(f"quality gate: fitted up to QF {quality}")
    return fit_table(products)
