"""Clean photographs for the restoration network and the degradation-level estimator.

Both are trained on 64x64 patches of clean images that are degraded on the fly (the paper uses Yang91 and
General100), so this module only has to turn folders of ordinary image files into uint8 RGB arrays and cut
them into patches. Odd files (grayscale, palette, alpha, 16-bit) are converted rather than rejected, and
unreadable ones are skipped with a warning, because real photo folders are rarely perfectly uniform.
"""
import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_irdi.data.input_rules import MAX_SIDE, PIL_FORMATS, as_displayed, input_rules
from keras_irdi.errors import InputError, MissingError

logger = logging.getLogger("keras_irdi")

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Pixels an image file may declare, for every reader (irdi predict, irdi restore, training folders): irdi restore's
# peak grows with the pixels (bench/results/restore_memory.json); without a limit, a PNG of a few KB could ask for
# any amount.
MAX_PIXELS = 2 ** 27  # 134 megapixels
_BAND = 1 << 22  # pixels converted to RGB at a time (whole rows)
# Bundled with scikit-image (no download) and stored losslessly, so they carry no JPEG artefacts that the
# restoration net would learn to treat as "clean".
_SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "immunohistochemistry", "stereo_motorcycle")


def load_image(path) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB.

    Conversions (each logged at INFO level):
    - grayscale / bilevel / palette images are expanded to RGB;
    - 16-bit images keep their high byte (value >> 8, as PIL does for 16-bit colour and libpng for the SavedModel's
      ``serve_bytes``), not clipped, so their contrast survives and both paths see the same pixels;
    - the EXIF orientation is applied (``data.input_rules.as_displayed``): a phone photo comes out upright;
    - transparent images are composited onto white, which is how viewers show them; simply dropping alpha
      would expose whatever arbitrary colour the encoder left under transparent pixels.
    A file whose header declares more than ``MAX_PIXELS`` pixels is refused (InputError naming the file, one
    line) before any pixel is allocated; PIL's own guard (``PIL.Image.MAX_IMAGE_PIXELS``) only warns below
    twice its limit, so its warning is silenced here and ``MAX_PIXELS`` decides.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise _too_large(path, width * height)
                image.load()  # decode now, so truncated files fail here rather than later
                mode = image.mode
                rgb = _to_rgb(as_displayed(image))  # EXIF orientation applied, as a viewer shows the photo
    except (FileNotFoundError, InputError):
        raise
    except Image.DecompressionBombError as err:  # PIL refuses above twice its limit, before the check above
        declared = re.search(r"\((\d+) pixels\)", str(err))
        raise _too_large(path, int(declared.group(1)) if declared else None) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({err or type(err).__name__})") from None
    if mode != "RGB":
        logger.info("%s: converted %s image to 8-bit RGB", path, mode)
    return rgb


def _too_large(path, pixels: int | None) -> InputError:
    declared = f"{pixels} pixels, " if pixels else ""
    return InputError(f"{path}: not a readable image, refused as too large ({declared}more than the {MAX_PIXELS} "
                      "accepted: keras_irdi.data.images.MAX_PIXELS, a guard against decompression bombs)")


def _to_rgb(image: Image.Image) -> np.ndarray:
    """uint8 (H, W, 3), converted a band of rows at a time: PIL holds RGB at 4 bytes a pixel and its array
    export copies twice, so a whole-image conversion of a 100-megapixel photo would hold ~4 copies at once."""
    rows = max(1, _BAND // max(1, image.width))
    if image.height <= rows:
        return _band_to_rgb(image)
    out = np.empty((image.height, image.width, 3), np.uint8)
    for top in range(0, image.height, rows):
        out[top:top + rows] = _band_to_rgb(image.crop((0, top, image.width, min(top + rows, image.height))))
    return out


def _band_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        gray = (values >> 8).astype(np.uint8)  # 65535 -> 255, 32896 -> 128, 129 -> 0
        return np.repeat(gray[..., None], 3, axis=-1)
    if "A" in image.mode or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_image_folder(dirs, min_size: int = 1) -> list[np.ndarray]:
    """Load every image directly inside one or more folders (sorted by file name, not recursive).

    Unreadable files and images smaller than `min_size` in either dimension are skipped with a warning;
    a folder that yields no image at all is an error, since it almost certainly is the wrong folder.
    """
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    images = []
    for folder in map(Path, dirs):
        if not folder.is_dir():
            raise MissingError(f"image folder not found: {folder}")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        loaded = 0
        for path in files:
            try:
                image = load_image(path)
            except ValueError as err:
                warnings.warn(f"skipping {err}", stacklevel=2)
                continue
            if min(image.shape[:2]) < min_size:
                warnings.warn(f"skipping {path}: {image.shape[1]}x{image.shape[0]} is smaller than "
                              f"min_size={min_size}", stacklevel=2)
                continue
            images.append(image)
            loaded += 1
        if not loaded:
            raise InputError(f"{folder}: no loadable images of at least {min_size}x{min_size} pixels "
                             f"(looked for {', '.join('*' + e for e in IMAGE_EXTENSIONS)}, any case)")
    return images


def default_clean_images() -> list[np.ndarray]:
    """A few colour photos bundled with scikit-image, so demos and tests run offline without a folder.

    Only a few hundred 64x64 patches: enough to exercise the pipeline, not to reproduce the paper.
    """
    import skimage.data

    images = []
    for name in _SKIMAGE_PHOTOS:
        try:
            image = getattr(skimage.data, name)()
        except Exception as err:  # an older/newer scikit-image may lack or not bundle one of them
            warnings.warn(f"skimage.data.{name} unavailable ({err}); skipping it", stacklevel=2)
            continue
        if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
            image = image[0]
        images.append(_to_rgb(Image.fromarray(np.asarray(image, dtype=np.uint8))))
    if not images:
        raise MissingError("no bundled scikit-image photo could be loaded; pass a folder of clean images")
    return images


def _dihedral(patch: np.ndarray, k: int) -> np.ndarray:
    """Variant k (0..7) of a patch: bit 2 = transpose, bit 0 = horizontal flip, bit 1 = vertical flip."""
    if k & 4:
        patch = patch.transpose(1, 0, 2)
    if k & 1:
        patch = patch[:, ::-1]
    if k & 2:
        patch = patch[::-1]
    return patch


def extract_patches(images: list[np.ndarray], size: int = 64, stride: int = 64, augment: bool = True,
                    max_patches: int | None = None, seed: int = 0) -> np.ndarray:
    """Cut images into a regular grid of `size` x `size` patches, uint8 (N, size, size, 3).

    Augmentation follows the paper ("transpose, horizontal and vertical flips"): with `augment=True`
    every grid patch appears in all 8 combinations of those three operations (the dihedral group), as
    consecutive entries with the unchanged patch first. All 8 rather than one random variant, so the
    result does not depend on a seed when nothing is subsampled.

    The 8x growth is never materialised beyond what is returned: patches are first enumerated as
    (image, position, variant) indices, and `max_patches` draws a seeded random subset of those
    (kept in enumeration order) before any pixel is copied. Images smaller than `size` are skipped.
    """
    if size < 1 or stride < 1:
        raise InputError(f"size and stride must be positive, got size={size}, stride={stride}")
    index = []  # rows of (image number, top, left)
    for i, image in enumerate(images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"image {i}: expected uint8 (H, W, 3), got {image.dtype} {image.shape}")
        tops = np.arange(0, image.shape[0] - size + 1, stride)
        lefts = np.arange(0, image.shape[1] - size + 1, stride)
        top, left = (a.ravel() for a in np.meshgrid(tops, lefts, indexing="ij"))
        index.append(np.stack([np.full_like(top, i), top, left], axis=1))
    index = np.concatenate(index) if index else np.empty((0, 3), np.int64)
    if not len(index):
        largest = max((img.shape[:2] for img in images), key=min, default=None)
        raise InputError(f"no {size}x{size} patch fits in any of the {len(images)} images; each image "
                         f"must be at least {size}x{size} pixels (largest has HxW {largest})")

    variants = 8 if augment else 1
    picks = np.arange(len(index) * variants)
    if max_patches is not None and max_patches < len(picks):
        picks = np.sort(np.random.default_rng(seed).choice(len(picks), size=max_patches, replace=False))
    patches = np.empty((len(picks), size, size, 3), np.uint8)
    for out, pick in enumerate(picks):
        i, top, left = index[pick // variants]
        patches[out] = _dihedral(images[i][top:top + size, left:left + size], pick % variants)
    return patches


def read_input_file(path, max_side: int = MAX_SIDE):
    """An image file to classify or restore -> uint8 (H, W, 3) RGB as displayed (``data.images.load_image``),
    or InputError naming the file and the first rule it breaks, read from its header before any pixel is
    decoded (FileNotFoundError if it does not exist)."""
    nbytes = os.stat(path).st_size
    try:
        with warnings.catch_warnings():  # the header only: the size rule below decides, not PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            fmt, (width, height) = image.format, image.size
            frames = int(getattr(image, "n_frames", 1)) if fmt == "PNG" else 1  # an MPO's 2nd image is not a frame
    except Exception:  # noqa: BLE001 - load_image raises the one-line error naming the file for each case
        load_image(path)
        raise
    for holds, message, values in input_rules(nbytes, fmt in PIL_FORMATS, height, width, frames, max_side=max_side):
        if not holds:
            shown = f" {', '.join(map(str, values))}" if values else f" (got {fmt})"
            raise InputError(f"{path}: {message}{shown}")
    return load_image(path)
