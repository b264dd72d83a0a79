"""The restoration stage's quality gate: how much of the residual to apply at each JPEG quality, fitted on
images the net never saw (the rule is in ``keras_irdi.models.restoration_gate``).

Three kinds of image, each required not to lose on average at any quality: the validation split (the domain
the classifiers are judged on), clean photos at their own scale, and the same photos saved twice at the same
quality, for the qualities cameras and photo sites save at (85-98). Saving a JPEG again at its own quality
changes almost nothing, so a net that restores it undoes the first save's compression too and costs dB
against the photo as it was -- and neither the file nor its pixels can tell such a photo from a once-saved
one (a photo saved again at a *finer* quality above QF 50 shows its earlier, coarser lattice and is left alone
by ``gate_quality``). This is the state of BSD100's and Urban100's references: their pixels read QF 95 and 96.
Each image counts at the quality its share will be chosen by, rounded to the nearest fitted quality.
"""
from __future__ import annotations

import numpy as np

from keras_irdi.degradations import degrade
from keras_irdi.data.jpeg_quality import qualities_from_pixels
from keras_irdi.models.forward import restore_array
from keras_irdi.models.restoration_gate import fit_table, fitted_qualities, gate_quality, nearest, residual_products

PER_QUALITY = 300  # validation images per quality (a different slice at each)
PHOTO_CROP = 128  # photos are fitted on a centre crop at their own scale (one size: one batch per quality)
RESAVED = (85, 98)  # the qualities at which photos are also fitted saved twice
MAX_PHOTOS = 100
READ_BLOCKS = 64  # blocks read per image for its quality (16 suffice on CIFAR; bounds the fit's time)


def centre_crop(image: np.ndarray, size: int = PHOTO_CROP) -> np.ndarray:
    top, left = max(0, (image.shape[0] - size) // 2), max(0, (image.shape[1] - size) // 2)
    return image[top:top + size, left:left + size]


def fit_quality_gate(model, val_images: np.ndarray, photos=(), step: int = 1,
                     per_quality: int = PER_QUALITY, report=None) -> dict:
    """{quality: alpha} for the restoration ``model`` (float 0..1 in and out), from uint8 validation images
    (one size) and clean photos (any sizes; those smaller than the crop are left out; none: the validation
    split alone)."""
    crops = [centre_crop(p) for p in photos if min(p.shape[:2]) >= PHOTO_CROP][:MAX_PHOTOS]
    crops = np.stack(crops) if crops else None
    n = min(per_quality, len(val_images))
    fitted = fitted_qualities(step)
    samples = {q: [[], [], []] for q in fitted}  # validation, photos, photos saved twice
    for quality in fitted:
        pick = (np.arange(n) + quality * 37) % len(val_images)
        kinds = [(val_images[pick], val_images[pick]), (crops, crops)]
        if crops is not None and RESAVED[0] <= quality <= RESAVED[1]:
            first = degrade(crops, "jpeg", quality)
            kinds.append((first, first))  # the reference is the photo as saved once
        for kind, (reference, source) in enumerate(kinds):
            if reference is None:
                continue
            degraded = degrade(source, "jpeg", quality)
            products = residual_products(reference, degraded, restore_array(model, degraded) * 255.0)
            for row, read in zip(products, qualities_from_pixels(degraded, READ_BLOCKS)):
                key = gate_quality(read, quality)  # as irdi-restore reads the file
                if key is not None:  # else left as it is, whatever the share
                    samples[nearest(fitted, key)][kind].append(row)
        if report and quality % 20 == 1:
            report(f"quality gate: fitted up to QF {quality}")
    return fit_table({q: [np.array(rows).reshape(-1, 3) for rows in kinds] for q, kinds in samples.items()})
