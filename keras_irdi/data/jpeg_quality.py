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


# ---------------------------------------------------------------------------------------------------------
# The quality of decoded pixels: JPEG leaves every 8x8 block's luminance DCT coefficients on the lattice of
# multiples of its quantisation table, blurred only by the decoder's rounding to 8 bits (about 0.35 in DCT
# units). The table whose lattice explains the coefficients best (a coarser table than the true one leaves
# half of them off its lattice; a finer one explains them with less density per point) is the file's, even
# on a 32x32 image (16 blocks). Blocks holding a clipped pixel (0 or 255) leave the lattice and are skipped;
# a block may still be off it (a mixture, 10 % outliers per block), and an image where no table beats "no
# lattice" by a clear margin was not JPEG-compressed on this grid (never compressed, resized or cropped
# after) -> None. Steps of 1 (QF 100 everywhere, QF 99 nearly) are hidden by the rounding itself: such an
# image reads as never compressed, which it nearly is.

_SIGMA = 0.45  # the decoder's rounding in DCT units, a little wide to tolerate libjpeg's integer IDCT
_SIGMA_PER_STEP = 0.01  # and its error on large coefficients, which grows with the step (QF 3: 2 at a step of 200)
_OUTLIER = 0.1  # share of blocks allowed off the lattice
_MIN_EVIDENCE = 8.0  # nats: never-compressed CIFAR images reach at most 7, correct reads at QF 2-98 at least 13 in
# 99 % of images (32x32; a photo has 64x the blocks)
_MAX_BLOCKS = 1024  # evenly spread blocks: plenty for a photo (a 32x32 image has 16), and bound the time


def _dct_matrix(n: int = 8) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix()
# Distinct luminance tables (the top qualities share some) and, for each, the highest quality that makes it.
_LUMA, _LUMA_INDEX = np.unique(_TABLES[0], axis=0, return_inverse=True)
_LUMA_QUALITY = np.array([_QUALITIES[_LUMA_INDEX.reshape(-1) == i].max() for i in range(len(_LUMA))])


def _luma_blocks(images: np.ndarray, max_blocks: int = _MAX_BLOCKS):
    """(n, H, W, 3) uint8 -> each image's 8x8 luminance blocks (on the JPEG grid, from the top-left corner) as
    DCT coefficients (n, blocks, 64), and each block's weight: 0 for a block holding a clipped pixel (it left
    the lattice), unless every block of the image does (then all count, and the mixture absorbs the worst)."""
    rgb = images.astype(np.float32)
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114 - 128.0
    n, h, w = len(images), (y.shape[1] // 8) * 8, (y.shape[2] // 8) * 8
    blocks = y[:, :h, :w].reshape(n, h // 8, 8, w // 8, 8).transpose(0, 1, 3, 2, 4).reshape(n, -1, 8, 8)
    clipped = ((images[:, :h, :w] == 0) | (images[:, :h, :w] == 255)).any(-1)
    clipped = clipped.reshape(n, h // 8, 8, w // 8, 8).any(axis=(2, 4)).reshape(n, -1)
    if blocks.shape[1] > max_blocks:
        pick = np.linspace(0, blocks.shape[1] - 1, max_blocks).astype(int)
        blocks, clipped = blocks[:, pick], clipped[:, pick]
    weight = np.where(clipped.all(axis=1, keepdims=True), 1.0, (~clipped).astype(np.float32))
    return np.einsum("ij,nbjk,lk->nbil", _DCT, blocks, _DCT).reshape(n, -1, 64).astype(np.float32), weight


def _lattice_scores(coeffs: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(n, tables): log-likelihood ratio of each distinct table's lattice against no lattice, summed over the
    weighted blocks of each image."""
    q = _LUMA[None, :, None, :].astype(np.float32)  # (1, tables, 1, 64)
    c = coeffs[:, None]  # (n, 1, blocks, 64)
    sigma = np.sqrt(_SIGMA ** 2 + (_SIGMA_PER_STEP * q) ** 2)
    off = np.mod(c + q / 2, q) - q / 2  # signed distance to the nearest multiple
    density = np.exp(-0.5 * np.square(off / sigma))
    fine = _LUMA.min(axis=1) <= 4 * _SIGMA  # tables with steps small enough that the neighbours' tails matter
    density[:, fine] += sum(np.exp(-0.5 * np.square((off[:, fine] + k * q[:, fine]) / sigma[:, fine]))
                            for k in (-1, 1))
    density /= sigma * np.sqrt(2 * np.pi)
    # Only coefficients outside the zero bin carry evidence: zeros fit every table and would favour the coarsest.
    per_coeff = np.log(q * density * 0.98 + 0.02) * (np.abs(c) >= q / 2)
    block = per_coeff.sum(axis=3)  # (n, tables, blocks)
    mix = np.logaddexp(block + np.log(1 - _OUTLIER), np.log(_OUTLIER))
    return ((mix - np.logaddexp(np.log(1 - _OUTLIER), np.log(_OUTLIER))) * weight[:, None]).sum(axis=2)


def qualities_from_pixels(images: np.ndarray, max_blocks: int = _MAX_BLOCKS) -> list:
    """``quality_from_pixels`` of each of (n, H, W, 3) uint8 images of one size, in bounded-memory chunks;
    at most ``max_blocks`` evenly spread blocks of each are read."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"quality_from_pixels needs (H, W, 3) uint8 images, got {images.dtype} {images.shape[1:]}")
    if images.shape[1] < 8 or images.shape[2] < 8:  # no whole 8x8 block
        return [None] * len(images)
    blocks = min((images.shape[1] // 8) * (images.shape[2] // 8), max_blocks)
    chunk = max(1, 8_000_000 // (len(_LUMA) * blocks * 64))
    out = []
    for i in range(0, len(images), chunk):
        scores = _lattice_scores(*_luma_blocks(images[i:i + chunk], max_blocks))
        for row in scores:
            found = row.max() >= _MIN_EVIDENCE
            out.append(int(_LUMA_QUALITY[np.flatnonzero(row == row.max())].max()) if found else None)
    return out


def quality_from_pixels(image: np.ndarray) -> int | None:
    """The IJG quality an (H, W, 3) uint8 image was last JPEG-compressed at, read from its luminance DCT
    lattice; None if it shows none (never compressed, compressed at QF 99-100, or resized/cropped off the
    8x8 grid since). After two compressions it is the coarser lattice's quality that shows."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"quality_from_pixels needs an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    return qualities_from_pixels(image[None])[0]
