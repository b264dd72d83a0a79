"""Hand-made image files for the loader and predict tests: every odd but valid kind of file (16-bit,
alpha, palette, CMYK, 1x1, large) and every way a file can be unreadable (corrupt, truncated, empty,
a decompression bomb, a folder named like an image), with what load_image must make of each."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width, height, rows: bytes = b"", bit_depth=8, color_type=2) -> bytes:
    """A PNG written by hand: any declared size (the pixel data need not match it)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def png16(values: np.ndarray, color_type: int) -> bytes:
    """16-bit PNG from uint16 (H, W, C): colour type 2 = RGB, 4 = gray+alpha, 6 = RGBA."""
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)
    return png_raw(values.shape[1], values.shape[0], rows, bit_depth=16, color_type=color_type)


def save_image(path, array, mode=None, **kw):
    """Save ``array`` with PIL and return the path."""
    Image.fromarray(array, mode).save(path, **kw)
    return path


def make_odd_files(d: Path) -> dict:
    """One file per odd case in folder ``d``, by name; values chosen so the conversions can be checked
    exactly (CONVERTED), and one file per way a file can be unreadable (UNREADABLE, plus "missing")."""
    rng = np.random.default_rng(0)
    f = {}
    f["rgb"] = save_image(d / "rgb.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    f["gray"] = save_image(d / "gray.png", np.full((9, 7), 200, np.uint8))
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    f["rgba"] = save_image(d / "rgba.png", rgba)
    la = np.stack([np.full((3, 3), 50, np.uint8), np.zeros((3, 3), np.uint8)], axis=-1)  # fully transparent
    f["gray_alpha"] = save_image(d / "gray_alpha.png", la, "LA")
    palette = Image.new("P", (5, 5), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.save(d / "palette.png")
    f["palette"] = d / "palette.png"
    palette.save(d / "palette_transparent.png", transparency=1)  # colour 1 (red) is transparent -> white
    f["palette_transparent"] = d / "palette_transparent.png"
    f["bilevel"] = d / "bilevel.png"
    Image.new("1", (6, 2), 1).save(f["bilevel"])
    f["gray16"] = save_image(d / "gray16.png", np.array([[65535, 32896, 0, 257, 129]], np.uint16))
    (d / "rgb16.png").write_bytes(png16(np.array([[[65535, 32896, 0], [33023, 257, 128]]], np.uint16), 2))
    f["rgb16"] = d / "rgb16.png"
    (d / "rgba16.png").write_bytes(png16(np.array([[[65535, 0, 0, 65535], [0, 0, 65535, 0]]], np.uint16), 6))
    f["rgba16"] = d / "rgba16.png"
    cmyk = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(cmyk, "JPEG", quality=95)
    (d / "cmyk.jpg").write_bytes(cmyk.getvalue())
    f["cmyk_jpeg"] = d / "cmyk.jpg"
    f["one_pixel"] = save_image(d / "one_pixel.png", np.array([[[1, 2, 3]]], np.uint8))
    f["large"] = d / "large.png"  # 3000x2000 (6 Mpx, legal): a uniform colour, so it compresses to nothing
    Image.new("RGB", (3000, 2000), (40, 80, 120)).save(f["large"])
    # Broken files.
    f["corrupt"] = d / "corrupt.png"
    f["corrupt"].write_bytes(rng.integers(0, 256, 700, dtype=np.uint8).tobytes())
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    f["truncated_jpeg"] = d / "truncated.jpg"
    f["truncated_jpeg"].write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    f["zero_byte"] = d / "zero.png"
    f["zero_byte"].write_bytes(b"")
    f["text_as_png"] = d / "notes.png"
    f["text_as_png"].write_text("just text with an image extension")
    # Declares 20000 x 20000 = 4e8 pixels (> 2 x PIL's MAX_IMAGE_PIXELS = 1.79e8): 1.2 GB if decoded.
    f["bomb"] = d / "bomb.png"
    f["bomb"].write_bytes(png_raw(20000, 20000))
    f["directory"] = d / "a_folder.png"
    f["directory"].mkdir()
    f["missing"] = d / "missing.png"
    return f


# What load_image makes of each readable odd file: (shape, check on the pixels).
CONVERTED = {
    "rgb": ((20, 30, 3), lambda a: (a == np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)).all()),
    "gray": ((9, 7, 3), lambda a: (a == 200).all()),
    "rgba": ((4, 4, 3), lambda a: (a[:2] == (10, 20, 30)).all() and (a[2:] == 255).all()),  # onto white
    "gray_alpha": ((3, 3, 3), lambda a: (a == 255).all()),  # fully transparent -> white
    "palette": ((5, 5, 3), lambda a: (a == (255, 0, 0)).all()),
    "palette_transparent": ((5, 5, 3), lambda a: (a == 255).all()),
    "bilevel": ((2, 6, 3), lambda a: (a == 255).all()),
    # 16-bit gray: the high byte, as libpng gives serve_bytes (129 -> 0, where / 257 rounded gives 1), not clipped.
    "gray16": ((1, 5, 3), lambda a: a[0, :, 0].tolist() == [255, 128, 0, 1, 0]),
    # 16-bit colour: PIL keeps the high byte (floor(v / 256)), the gray rule.
    "rgb16": ((1, 2, 3), lambda a: a.tolist() == [[[255, 128, 0], [128, 1, 0]]]),
    "rgba16": ((1, 2, 3), lambda a: a.tolist() == [[[255, 0, 0], [255, 255, 255]]]),
    "cmyk_jpeg": ((8, 8, 3), lambda a: (a >= 250).all()),  # CMYK (0,0,0,0) is white paper
    "one_pixel": ((1, 1, 3), lambda a: a.tolist() == [[[1, 2, 3]]]),
    "large": ((2000, 3000, 3), lambda a: (a[::97, ::89] == (40, 80, 120)).all()),
}
UNREADABLE = ("corrupt", "truncated_jpeg", "zero_byte", "text_as_png", "bomb", "directory")


def screenshot(width=640, height=400) -> np.ndarray:
    """A synthetic screenshot, never compressed: flat areas, sharp text-like edges and thin lines drawn with PIL."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width - 1, 30], fill=(50, 60, 90))
    draw.rectangle([20, 50, 300, 380], fill=(250, 250, 250), outline=(120, 120, 120))
    draw.rectangle([330, 50, 620, 200], fill=(70, 130, 180))
    draw.line([320, 40, 320, height - 1], fill=(90, 90, 90), width=2)
    for i in range(12):
        draw.text((30, 60 + 25 * i), f"Line {i}: Settings  File  Edit  0123456789", fill=(20, 20, 20),
                  font=ImageFont.load_default(size=12 + i % 3))
    return np.asarray(image)
