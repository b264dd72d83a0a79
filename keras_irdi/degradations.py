"""Degradation operators and their level conventions: the one place that knows them.

Every other module (pipelines, the estimator's targets, the weight net's input scale, the sweep, the
predict CLI, the tables and figures) asks this registry for a degradation's level range, normalisation and
names, so adding a new degradation means adding one entry here. Only numpy and PIL: no TensorFlow.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from keras_irdi.errors import InputError


JPEG_MAX_SIDE = 65500  # libjpeg's limit on either dimension


def _jpeg_one(image: np.ndarray, quality: int) -> np.ndarray:
    """PIL JPEG round trip, exactly as the paper's code does it (default PIL settings, 4:2:0)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _jpeg(images: np.ndarray, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(images)
    for i, (img, q) in enumerate(zip(images, levels)):
        out[i] = _jpeg_one(img, q)
    return out


def _blur(images: np.ndarray, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma in pixels (scikit-image's exact kernel, truncated at 4 sigma, edges 'nearest')."""
    from skimage.filters import gaussian

    out = np.empty_like(images)
    for i, (img, sigma) in enumerate(zip(images, levels)):
        if sigma <= 0:
            out[i] = img
            continue
        blurred = gaussian(img, sigma=float(sigma), channel_axis=-1, preserve_range=True, mode="nearest")
        out[i] = np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    return out


def _gaussian(images: np.ndarray, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = levels.astype(np.float32).reshape(-1, 1, 1, 1)
    noisy = images.astype(np.float32) + rng.standard_normal(images.shape, dtype=np.float32) * sigma
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Degradation:
    """A degradation with its level range and the scale that turns a level into the estimator target.

    ``scale`` follows the authors' lab code: QF/100 for JPEG, sigma/255 for noise. The weight net
    instead sees the level mapped onto [0, 1] over the training range (``unit``), so both
    degradations feed it inputs of the same spread.
    """

    name: str
    low: float
    high: float
    integer: bool
    scale: float
    unit_name: str
    apply: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
    # How tables and figures name it ("JPEG", its level "QF", the x axis, "jpg" as in Cla(jpg)); left out,
    # they fall back to ``name`` and ``unit_name``.
    display: str = ""
    short: str = ""
    axis_label: str = ""
    tag: str = ""
    quality_rises: bool = False  # True if a higher level is a better image (QF), False if a worse one (sigma)
    # Levels at which the paper reports CPSNR (Tables 2 and 5) and its accuracy intervals.
    psnr_levels: tuple = ()
    intervals: tuple = ()
    # CIFAR-10-C severities 1..5 expressed as levels of this degradation.
    cifar_c_levels: tuple = ()
    # Spacing of the sweep's level grid; interval means average every grid level in the interval.
    level_step: float = 1.0

    def __post_init__(self):
        for name, fallback in (("display", self.name), ("short", self.unit_name), ("axis_label", self.unit_name),
                               ("tag", self.name)):
            if not getattr(self, name):
                object.__setattr__(self, name, fallback)  # frozen: set once, here

    @property
    def level_name(self) -> str:
        """How messages name the level: "jpeg quality factor", "blur sigma (pixels)" (not "blur blur sigma")."""
        return self.unit_name if self.unit_name.startswith(self.name) else f"{self.name} {self.unit_name}"

    def check(self, levels) -> np.ndarray:
        """Validate levels; the error names the valid range so the caller knows what to pass."""
        arr = np.asarray(levels)
        if arr.dtype.kind not in "iuf" or arr.size == 0:
            raise InputError(f"{self.name} levels must be numbers in [{self.low:g}, {self.high:g}], got {levels!r}")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{self.name} levels must be finite, in [{self.low:g}, {self.high:g}]")
        if self.integer and np.any(arr != np.round(arr)):
            raise InputError(f"{self.level_name} must be an integer in "
                             f"{self.low:g}..{self.high:g}, got {levels!r}")
        if np.any(arr < self.low) or np.any(arr > self.high):
            raise InputError(f"{self.level_name} must be in {self.low:g}..{self.high:g}, got {levels!r}")
        return arr.astype(np.int64 if self.integer else np.float64)

    @property
    def full_interval(self) -> tuple:
        """The paper's interval over the whole range, e.g. (1,100)."""
        return max(self.intervals, key=lambda iv: iv[1] - iv[0])

    @property
    def sub_intervals(self) -> list:
        """The paper's intervals without the full one, in level order."""
        return [iv for iv in self.intervals if iv != self.full_interval]

    @property
    def highest_quality_interval(self) -> tuple:
        """The sub-interval of the highest image quality: the highest QFs, the lowest sigmas."""
        return self.sub_intervals[-1 if self.quality_rises else 0]

    def normalize(self, levels):
        """Level -> estimator target (what the level estimator is trained to output)."""
        return np.asarray(levels, np.float32) / self.scale

    def denormalize(self, values):
        return np.asarray(values, np.float32) * self.scale

    @property
    def unit(self) -> float:
        """Factor from the estimator's output to a [0,1] position within the level range."""
        return self.scale / self.high

    def sweep_levels(self, step: int = 1) -> np.ndarray:
        """The level grid of the evaluation: QF 1..100 and sigma 0..50 (the paper's), blur 0..6 by 0.1."""
        n = int(round((self.high - self.low) / self.level_step))
        grid = self.low + self.level_step * np.arange(0, n + 1, step)
        return np.round(grid, 6) if self.level_step != 1 else grid.astype(np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Levels drawn uniformly over the range (integers for JPEG, as PIL needs)."""
        if self.integer:
            return rng.integers(int(self.low), int(self.high) + 1, size=n)
        return rng.uniform(self.low, self.high, size=n)


DEGRADATIONS: dict[str, Degradation] = {
    "jpeg": Degradation(
        name="jpeg", low=1, high=100, integer=True, scale=100.0, unit_name="quality factor", apply=_jpeg,
        display="JPEG", short="QF", axis_label="JPEG quality factor", tag="jpg", quality_rises=True,
        psnr_levels=(10, 30, 50, 70, 90),
        intervals=((1, 20), (21, 40), (41, 60), (61, 80), (81, 100), (1, 100)),
        cifar_c_levels=(80, 65, 58, 50, 40)),
    "gaussian": Degradation(
        name="gaussian", low=0, high=50, integer=False, scale=255.0, unit_name="sigma", apply=_gaussian,
        display="Gaussian", short="sigma", axis_label="noise sigma (0-255)", tag="Gauss", quality_rises=False,
        psnr_levels=(10, 20, 30, 40, 50),
        intervals=((0, 10), (11, 20), (21, 30), (31, 40), (41, 50), (0, 50)),
        cifar_c_levels=(10.2, 15.3, 20.4, 22.95, 25.5)),
    # Beyond the paper (the journal extension's third degradation). Levels 0..6 pixels on 32x32 images
    # run from harmless to destructive; the CIFAR-10-C blur severities are sigma 1, 2, 3, 4, 6.
    "blur": Degradation(
        name="blur", low=0, high=6, integer=False, scale=6.0, unit_name="blur sigma (pixels)", apply=_blur,
        display="Gaussian blur", short="sigma", axis_label="blur sigma (pixels)", tag="blur", quality_rises=False,
        psnr_levels=(1, 2, 3, 4, 6),
        intervals=((0, 1), (1.1, 2), (2.1, 3), (3.1, 4), (4.1, 6), (0, 6)),
        cifar_c_levels=(1, 2, 3, 4, 6), level_step=0.1),
}


def get_degradation(kind: str) -> Degradation:
    try:
        return DEGRADATIONS[kind]
    except KeyError:
        raise InputError(f"unknown degradation {kind!r}; choose one of: {', '.join(DEGRADATIONS)}") from None


def as_uint8_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise InputError(f"images must be uint8 (0..255), got dtype {arr.dtype}; convert with "
                         "np.clip(x, 0, 255).astype(np.uint8) or load them with keras_irdi.data")
    if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise InputError(f"images must be RGB with shape (H, W, 3) or (N, H, W, 3), got {arr.shape}; "
                         "convert grayscale/RGBA with PIL's Image.convert('RGB')")
    return arr


def degrade(images, kind: str, levels, seed=None) -> np.ndarray:
    """Degrade uint8 RGB images: ``images`` (H,W,3) or (N,H,W,3), ``levels`` a scalar or one per image.

    JPEG output is byte-identical to a hand-written PIL round trip; Gaussian noise is seeded by ``seed``
    (an int or a ``np.random.Generator``).
    """
    deg = get_degradation(kind)
    arr = as_uint8_images(images)
    height, width = arr.shape[-3:-1]
    if min(height, width) < 1:
        raise InputError(f"images must be at least 1x1 pixels, got {width}x{height}")
    if kind == "jpeg" and max(height, width) > JPEG_MAX_SIDE:
        raise InputError(f"JPEG cannot encode images larger than {JPEG_MAX_SIDE} pixels per side, got "
                         f"{width}x{height}; resize or tile the image first")
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    lv = deg.check(levels)
    if lv.ndim == 0:
        lv = np.full(len(batch), lv)
    elif lv.shape != (len(batch),):
        raise InputError(f"levels must be a scalar or one per image ({len(batch)}), got shape {lv.shape}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = deg.apply(np.ascontiguousarray(batch), lv, rng)
    return out[0] if single else out
