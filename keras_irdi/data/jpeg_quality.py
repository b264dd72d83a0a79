"""The JPEG quality factor of a file, read from its quantisation tables (no decoding of pixels).

Encoders built on the IJG library (libjpeg, libjpeg-turbo: PIL, ImageMagick, most software) make the
tables of quality Q by scaling the two example tables of the JPEG standard (Annex K):

    scale = 5000 / Q if Q < 50 else 200 - 2 Q          table = clamp((base * scale + 50) // 100, 1, 255)

so a file's quality is the Q whose scaled tables equal the file's. Files whose tables are not IJG's
(cameras, some phones) get the Q whose tables are closest (least mean absolute difference), flagged not
exact. Several Q can give the same tables (at the top end, e.g. 98..100 only differ in a few entries); the
highest is returned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Annex K tables, natural (row-major) order: the order of PIL's ``Image.quantization``.
LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.int64)
CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, np.int64)


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The IJG library's table for ``quality`` (1..100), baseline (entries clamped to 1..255)."""
    quality = int(min(max(quality, 1), 100))
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


_QUALITIES = np.arange(1, 101)
_TABLES = [np.stack([ijg_table(LUMINANCE, q) for q in _QUALITIES]),
           np.stack([ijg_table(CHROMINANCE, q) for q in _QUALITIES])]


@dataclass(frozen=True)
class JpegQuality:
    quality: int  # 1..100
    exact: bool  # the file's tables are IJG's tables of this quality


def quality_from_tables(tables: dict) -> JpegQuality | None:
    """``{0: luminance[64], 1: chrominance[64], ...}`` (PIL's ``Image.quantization``) -> the quality;
    None if there is no usable table. A grayscale file has only table 0."""
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    error = np.zeros(len(_QUALITIES))
    for index, candidates in enumerate(_TABLES):
        if index in tables and len(tables[index]) == 64:
            error += np.abs(candidates - np.asarray(tables[index], np.int64)[None]).mean(axis=1)
    best = np.flatnonzero(error == error.min())[-1]  # the highest of equally good qualities
    return JpegQuality(int(_QUALITIES[best]), bool(error[best] == 0))


def file_jpeg_quality(path) -> JpegQuality | None:
    """The JPEG quality of the file at ``path``, None when it is not a JPEG (or cannot be opened:
    reading the pixels reports that)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                return None
            return quality_from_tables(getattr(image, "quantization", None) or {})
    except (OSError, SyntaxError, ValueError):
        return None
