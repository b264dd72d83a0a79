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
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():  # the header only: the pixel-count limit is load_image's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            if image.format != "JPEG":
                return None
            return quality_from_tables(getattr(image, "quantization", None) or {})
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


# ---------------------------------------------------------------------------------------------------------
# The quality of decoded pixels: JPEG leaves every 8x8 block's luminance DCT coefficients on the lattice of
# multiples of its quantisation table, blurred only by the decoder's rounding to 8 bits (about 0.35 in DCT
# units). The table whose lattice explains the coefficients best (a coarser table than the true one leaves
# half of them off its lattice; a finer one explains them with less density per point) is the file's, even
# on a 32x32 image (16 blocks). Only informative blocks are read: a flat block is its DC alone (a multiple of 8
# for any flat grey), and many of them, or one repeated, would make an accidental fit look like strong
# evidence (a solid PNG read as QF 13-26). Blocks holding a clipped pixel (0 or 255) leave the lattice and are
# skipped; a block may still be off it (a mixture, 10 % outliers per block), and an image with fewer than
# _MIN_BLOCKS informative blocks, or where no table beats "no lattice" by a clear margin, was not
# JPEG-compressed on this grid (never compressed, flat, resized or cropped after) -> None. Steps of 1 (QF 100
# everywhere, QF 99 nearly) are hidden by the rounding itself: such an image reads as never compressed, which
# it nearly is. The image is read block by block, in uint8 until a block is chosen: memory does not grow with
# its size.

_SIGMA = 0.45  # the decoder's rounding in DCT units, a little wide to tolerate libjpeg's integer IDCT
_SIGMA_PER_STEP = 0.01  # and its error on large coefficients, which grows with the step (QF 3: 2 at a step of 200)
_DC_SIGMA = 1.5  # but not the DC's, a block mean (CIFAR, QF 2-50: 99 % of DCs within 2.1-3.1 of the lattice)
_OUTLIER = 0.1  # share of blocks allowed off the lattice
_MIN_EVIDENCE = 8.0  # nats: never-compressed CIFAR images reach at most 7, correct reads at QF 2-98 at least 13 in
# 99 % of images (32x32; a photo has 64x the blocks)
# Beyond the rounding (99.9 % of a JPEG's zeroed coefficients stay within it, CIFAR QF 2-90): an AC coefficient
# this large makes a block informative, and one this large inside a table's zero bin is off that table's lattice.
_NOISE = 2.0
_MIN_BLOCKS = 2  # informative blocks an image needs for any reading (docs/DECISIONS.md: the measurement)
_MAX_BLOCKS = 1024  # informative blocks read, evenly spread: plenty for a photo (a 32x32 image has 16)
_SCAN_BLOCKS = 16 * _MAX_BLOCKS  # evenly spread blocks examined for them: bounds time and memory on any size
_READ_CHUNK = 4096  # blocks converted to float at a time
_SCORE_CHUNK = 1_000_000  # coefficients x tables scored at a time (float32 temporaries of 4 MB)


def _dct_matrix(n: int = 8) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix()
# Distinct luminance tables (the top qualities share some) and, for each, the highest quality that makes it.
_LUMA, _LUMA_INDEX = np.unique(_TABLES[0], axis=0, return_inverse=True)
_LUMA_QUALITY = np.array([_QUALITIES[_LUMA_INDEX.reshape(-1) == i].max() for i in range(len(_LUMA))])


def _block_positions(height: int, width: int, limit: int):
    """(rows, cols) of at most ``limit`` blocks of the 8x8 grid from the top-left corner, evenly spread in
    reading order (all of them when there are no more)."""
    rows, cols = height // 8, width // 8
    index = np.arange(rows * cols) if rows * cols <= limit else np.linspace(0, rows * cols - 1, limit).astype(int)
    return index // cols, index % cols


def _read_blocks(images: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """The blocks at (rows, cols) of (n, H, W, 3) uint8 images -> their luminance DCT coefficients (n, blocks,
    64) float32 and whether each holds a clipped pixel (n, blocks); only these blocks are converted to float."""
    offsets = np.arange(8)
    pixels = images[:, (rows[:, None] * 8 + offsets)[:, :, None], (cols[:, None] * 8 + offsets)[:, None, :]]
    clipped = ((pixels == 0) | (pixels == 255)).any(axis=(2, 3, 4))
    rgb = pixels.astype(np.float32)
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114 - 128.0
    coeffs = np.einsum("ij,nbjk,lk->nbil", _DCT, y, _DCT).reshape(len(images), -1, 64)
    return coeffs.astype(np.float32), clipped


def _informative_blocks(images: np.ndarray, max_blocks: int):
    """(n, H, W, 3) uint8 -> the DCT coefficients (n, k, 64) of up to ``max_blocks`` informative blocks of each
    image, evenly spread, and their weights (n, k): 0 pads an image with fewer, and one with fewer than
    ``_MIN_BLOCKS`` gets none. Informative: some AC coefficient reaches ``_NOISE``, not a repeat of another
    block (a repeated block repeats its evidence, it does not add to it), and no pixel clipped, unless fewer
    than ``_MIN_BLOCKS`` are unclipped (then the clipped ones count too, and the mixture absorbs the worst).
    At most ``_SCAN_BLOCKS`` evenly spread candidates are examined, ``_READ_CHUNK`` blocks at a time."""
    n = len(images)
    rows, cols = _block_positions(images.shape[1], images.shape[2], max(_SCAN_BLOCKS, max_blocks))
    coeffs = np.empty((n, len(rows), 64), np.float32)
    clipped = np.empty((n, len(rows)), bool)
    step = max(1, _READ_CHUNK // n)
    for start in range(0, len(rows), step):
        part = slice(start, start + step)
        coeffs[:, part], clipped[:, part] = _read_blocks(images, rows[part], cols[part])
    textured = np.abs(coeffs[..., 1:]).max(axis=-1) >= _NOISE
    picked = []
    for i in range(n):
        index = _distinct(coeffs[i], np.flatnonzero(textured[i] & ~clipped[i]))
        if len(index) < _MIN_BLOCKS:
            index = _distinct(coeffs[i], np.flatnonzero(textured[i]))
        if len(index) > max_blocks:
            index = index[np.linspace(0, len(index) - 1, max_blocks).astype(int)]
        picked.append(index if len(index) >= _MIN_BLOCKS else index[:0])
    out = np.zeros((n, max(1, max(map(len, picked))), 64), np.float32)
    weight = np.zeros(out.shape[:2], np.float32)
    for i, index in enumerate(picked):
        out[i, :len(index)], weight[i, :len(index)] = coeffs[i, index], 1.0
    return out, weight


def _distinct(coeffs: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``index`` (ascending) without the blocks whose coefficients repeat an earlier one's."""
    if len(index) < 2:
        return index
    return index[np.sort(np.unique(coeffs[index], axis=0, return_index=True)[1])]


def _lattice_scores(coeffs: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(n, tables): log-likelihood ratio of each distinct table's lattice against no lattice, summed over the
    weighted blocks of each image (a few hundred blocks at a time: bounded memory)."""
    q = _LUMA[None, :, None, :].astype(np.float32)  # (1, tables, 1, 64)
    sigma = np.sqrt(_SIGMA ** 2 + (_SIGMA_PER_STEP * q) ** 2)
    sigma[..., 0] = np.minimum(sigma[..., 0], _DC_SIGMA)
    fine = _LUMA.min(axis=1) <= 4 * _SIGMA  # tables with steps small enough that the neighbours' tails matter
    total = np.zeros((len(coeffs), len(_LUMA)))
    step = max(1, _SCORE_CHUNK // (len(coeffs) * len(_LUMA) * 64))
    for start in range(0, coeffs.shape[1], step):
        c = coeffs[:, None, start:start + step]  # (n, 1, blocks, 64)
        off = np.mod(c + q / 2, q) - q / 2  # signed distance to the nearest multiple
        density = np.exp(-0.5 * np.square(off / sigma))
        density[:, fine] += sum(np.exp(-0.5 * np.square((off[:, fine] + k * q[:, fine]) / sigma[:, fine]))
                                for k in (-1, 1))
        density /= sigma * np.sqrt(2 * np.pi)
        # Outside its zero bin a coefficient is evidence for or against a table. Inside, a zero fits every table
        # and would favour the coarsest: it counts only against one, when it stands out of the rounding.
        fit = np.log(q * density * 0.98 + 0.02)
        per_coeff = np.where(np.abs(c) >= q / 2, fit, np.minimum(fit, 0.0) * (np.abs(c) >= _NOISE))
        block = per_coeff.sum(axis=3)  # (n, tables, blocks)
        mix = np.logaddexp(block + np.log(1 - _OUTLIER), np.log(_OUTLIER))
        total += ((mix - np.logaddexp(np.log(1 - _OUTLIER), np.log(_OUTLIER)))
                  * weight[:, None, start:start + step]).sum(axis=2)
    return total


def qualities_from_pixels(images: np.ndarray, max_blocks: int = _MAX_BLOCKS) -> list:
    """``quality_from_pixels`` of each of (n, H, W, 3) uint8 images of one size, in bounded-memory chunks;
    at most ``max_blocks`` evenly spread informative blocks of each are read."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"quality_from_pixels needs (H, W, 3) uint8 images, got {images.dtype} {images.shape[1:]}")
    if images.shape[1] < 8 or images.shape[2] < 8:  # no whole 8x8 block
        return [None] * len(images)
    blocks = min((images.shape[1] // 8) * (images.shape[2] // 8), max_blocks)
    chunk = max(1, _SCORE_CHUNK // (len(_LUMA) * blocks * 64))
    out = []
    for i in range(0, len(images), chunk):
        coeffs, weight = _informative_blocks(images[i:i + chunk], max_blocks)
        for row, w in zip(_lattice_scores(coeffs, weight), weight):
            found = w.any() and row.max() >= _MIN_EVIDENCE
            out.append(int(_LUMA_QUALITY[np.flatnonzero(row == row.max())].max()) if found else None)
    return out


def quality_from_pixels(image: np.ndarray) -> int | None:
    """The IJG quality an (H, W, 3) uint8 image was last JPEG-compressed at, read from its luminance DCT
    lattice; None if it shows none (never compressed, too flat to tell, compressed at QF 99-100, or
    resized/cropped off the 8x8 grid since). After two compressions it is the coarser lattice's quality that
    shows."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"quality_from_pixels needs an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    return qualities_from_pixels(image[None])[0]
