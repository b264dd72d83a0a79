"""The degradation level of a photo at its own resolution: the level estimator over its native tiles.

The estimator was trained on 32x32 images (CIFAR) and 32x32 patches; on a photo it is run over the photo's
own non-overlapping SxS tiles (S = the run's input size), without any resize, and summarised by the median
and the interquartile range of the tile estimates. The grid starts at the top-left pixel, so for S a
multiple of 8 each tile holds whole JPEG blocks. A huge photo is not read whole: at most ``max_tiles``
tiles, evenly spaced over the grid (deterministic: the same file always gives the same tiles and answer).

Why this differs from the level of the classifier's input: ``irdi-predict`` centre-crops and resizes the
photo to SxS for the classifier, and the resize averages away the 8x8-block artifacts (and most of the
noise), so the estimate of that small input says how degraded the *input* looks, not the file.
"""
from __future__ import annotations

import numpy as np

MAX_TILES = 256


def tile_grid(height: int, width: int, size: int, max_tiles: int = MAX_TILES) -> np.ndarray:
    """(top, left) of whole SxS tiles on the grid from (0, 0); at most ``max_tiles``, evenly spaced."""
    tops = np.arange(0, height - size + 1, size)
    lefts = np.arange(0, width - size + 1, size)
    grid = np.stack(np.meshgrid(tops, lefts, indexing="ij"), -1).reshape(-1, 2)
    if max_tiles and len(grid) > max_tiles:
        grid = grid[np.unique(np.round(np.linspace(0, len(grid) - 1, max_tiles)).astype(int))]
    return grid


def native_tiles(image: np.ndarray, size: int, max_tiles: int = MAX_TILES) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (N, S, S, 3), the tiles of ``tile_grid``; N = 0 if the image is smaller."""
    grid = tile_grid(image.shape[0], image.shape[1], size, max_tiles)
    if not len(grid):
        return np.empty((0, size, size, 3), np.uint8)
    return np.stack([image[t:t + size, s:s + size] for t, s in grid])


def summarise(levels) -> dict | None:
    """Tile estimates -> {"median", "iqr": [q25, q75], "tiles"}; None for no tiles."""
    levels = np.asarray(levels, np.float64).reshape(-1)
    if not len(levels):
        return None
    q25, median, q75 = np.percentile(levels, [25, 50, 75])
    return {"median": round(float(median), 2), "iqr": [round(float(q25), 2), round(float(q75), 2)],
            "tiles": int(len(levels))}


def native_level(estimate, image: np.ndarray, size: int, max_tiles: int = MAX_TILES) -> dict | None:
    """``estimate``: uint8 (N, S, S, 3) -> levels (N,) in the degradation's units. The summary of the
    photo's native tiles with the tile size added; None when the photo is smaller than one tile."""
    tiles = native_tiles(image, size, max_tiles)
    summary = summarise(estimate(tiles)) if len(tiles) else None
    return None if summary is None else dict(summary, tile_size=int(size))


def measured_on(quality, size: int, degrade=None) -> dict:
    """Which image each of predict's numbers was measured on (``quality``: a JpegQuality or None;
    ``degrade``: predict's --degrade (kind, level) or None)."""
    if quality is None:
        file_text = "not a JPEG file: no quantisation tables"
    elif quality.exact:
        file_text = "the file as stored: its quantisation tables (IJG scaling rule)"
    else:
        file_text = "the file as stored: the IJG quality whose tables are closest to the file's (not IJG's own)"
    native = f"the file at its native resolution, {size}x{size} tiles, no resize"
    small = f"the classifier's {size}x{size} input (centre crop of the file, resized)"
    if degrade:
        native += f" (not degraded: --degrade applies to the {size}x{size} input only)"
        small += f", after --degrade {degrade[0]}:{degrade[1]:g}"
    return {"file_jpeg_quality": file_text, "level_native": native, "level_of_input": small + "; drives the weights"}


def describe_levels(r: dict) -> list[str]:
    """predict's text lines for one file's levels (``r``: its JSON record)."""
    unit, native, degraded = r["level_unit"], r["level_native"], r.get("degraded")
    quality = "n/a (not a JPEG file)" if r["file_jpeg_quality"] is None else str(r["file_jpeg_quality"])
    lines = [f"  file JPEG quality: {quality}"]
    if native is None:
        lines.append(f"  {unit} at native resolution: n/a (no level estimator, or smaller than one tile)")
    else:
        side = native["tile_size"]
        lines.append(f"  {unit} at native resolution: median {native['median']:.1f} (IQR {native['iqr'][0]:.1f}.."
                     f"{native['iqr'][1]:.1f}, {native['tiles']} tiles of {side}x{side})"
                     + (" [the file, not degraded]" if degraded else ""))
    small = "n/a (no level estimator)" if r["level_of_input"] is None else f"{r['level_of_input']:.1f}"
    lines.append(f"  {unit} of the classifier's input (drives the weights): {small}"
                 + (f" [after --degrade {degraded}]" if degraded else ""))
    return lines
