"""The one set of input rules for images: ``irdi predict`` and ``irdi restore`` (files read with PIL,
``data.images.read_input_file``) and the exported SavedModel's signatures (``serve_bytes``: bytes decoded in the
TF graph; ``serving_default`` and ``restore``: pixel tensors) all apply them.

- formats: JPEG (an MPO phone photo is a JPEG: its primary image is used) and PNG, by content, not by
  file name;
- at most ``MAX_BYTES`` encoded, and width and height (as the header declares them, checked before any
  pixel is decoded) within 1..``max_side``: ``MAX_SIDE`` for what is classified (the network sees S x S, a
  larger photo only costs time), ``RESTORE_MAX_SIDE`` for what is restored at its own size (tiled, so its
  memory is bounded by the pixel count, ``data.images.MAX_PIXELS``, which every file reader applies);
- one frame: an animated PNG (APNG with more than one frame) is refused rather than silently reduced
  to its first frame;
- a pixel tensor has 3 channels, and is exactly S x S where the network takes only its input size
  (``serving_default``; ``serve_bytes`` and ``irdi-predict`` fit any size to it);
- EXIF orientation (tag 0x0112 of IFD0, in a JPEG's APP1 "Exif" segment or a PNG's eXIf chunk) is
  applied, so a phone photo is classified as it is displayed. predict uses ``PIL.ImageOps.exif_transpose``;
  the graph reads the same tag (:func:`exif_orientation`) and applies the same transposition
  (:func:`apply_orientation`). Not read by either path's rule set: the orientation in a PNG's legacy
  "Raw profile type exif" text chunk (PIL's getexif would read it, the graph cannot: both ignore it,
  see :func:`file_orientation`).

:func:`input_rules` is the single statement of the rules that refuse: it takes Python numbers (from PIL's
header) or TF tensors (in the graph) and returns the conditions to hold, with their messages. The
conversions that follow (grey, palette, 16-bit, transparency onto white) are ``data.images.load_image``'s and
``serving.decoding._png_to_rgb``'s; then ``serving.decoding.fit_to_input`` fits the image to the network's input.
"""
from __future__ import annotations




MAX_SIDE = 4096  # pixels per side of an image to classify
RESTORE_MAX_SIDE = 65500  # pixels per side of an image to restore (libjpeg's limit; MAX_PIXELS bounds the area)
MAX_BYTES = 32 * 1024 * 1024  # encoded size
FORMATS = ("JPEG", "PNG")
PIL_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}  # PIL's format name -> ours
ORIENTATION_TAG = 0x0112


def input_rules(nbytes=None, known_format=None, height=None, width=None, frames=None, *, channels=None,
                size=None, max_side=MAX_SIDE) -> list:
    """[(holds, message, values)]: every rule an image must meet, in the order they are checked. ``holds`` is
    a bool, or a TF bool tensor when the arguments are tensors (``&`` and comparisons work on both). Each
    argument is optional, and only its rules are returned: the graph checks the bytes before it parses the
    header, and a pixel tensor has no encoded size. ``size``: the only side accepted (a network's S x S)."""
    rules = []
    if nbytes is not None:
        rules.append((nbytes <= MAX_BYTES, f"encoded image larger than {MAX_BYTES} bytes:", [nbytes]))
    if known_format is not None:
        rules.append((known_format, f"not a {' or '.join(FORMATS)} image (these are the formats accepted)", []))
    if height is not None:
        rules += [((height >= 1) & (width >= 1), "image has a zero dimension: height, width =", [height, width]),
                  ((height <= max_side) & (width <= max_side),
                   f"image larger than {max_side} pixels per side: height, width =", [height, width])]
    if channels is not None:
        rules.append((channels == 3, "image does not have 3 channels (RGB): channels =", [channels]))
    if size is not None:
        rules.append(((height == size) & (width == size), f"image is not {size}x{size} pixels, the input size of the "
                      "network (serve_bytes and irdi predict resize any image to it): height, width =",
                      [height, width]))
    if frames is not None:
        rules.append((frames <= 1, "animated image (several frames), not a photo: frames =", [frames]))
    return rules


def file_orientation(image) -> int:
    """The EXIF orientation 1..8 of an opened (and loaded) PIL image; 1 when absent or unreadable.

    Read from the Exif block PIL found in the file (a JPEG's APP1 segment, a PNG's eXIf chunk) only, as the
    graph reads it; not from a PNG's legacy "Raw profile type exif" text, which PIL's getexif would add."""
    from PIL import Image

    raw = image.info.get("exif")
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        value = exif.get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: shown as stored, as in the graph
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def as_displayed(image):
    """A PIL image turned as its EXIF orientation says (what ``PIL.ImageOps.exif_transpose`` does to the
    pixels), so the network sees the photo as a viewer shows it."""
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(file_orientation(image))
    return image if method is None else image.transpose(method)


# -- the same in the TF graph (serve_bytes) ---------------------------------------------------------
_SCAN_ENTRIES = 256  # IFD0 entries searched for the orientation tag (cameras write it among the first 20)
_PAD = 12 * _SCAN_ENTRIES + 16


def exif_orientation(data, is_jpeg):
    """EXIF orientation 1..8 of one encoded JPEG/PNG (scalar string tensor); 1 when absent or unreadable.

    The TIFF block starts after the first "Exif\\0\\0" (JPEG APP1) or "eXIf" (PNG chunk type); its byte order
    ("II"/"MM") and magic 42 are checked, then IFD0's entries are searched for tag 0x0112. Never fails: bytes
    past the end read as zeros."""
    import tensorflow as tf

    length = tf.strings.length(data)
    padded = tf.strings.join([data, b"\0" * _PAD])

    def read(pos, n):
        pos = tf.clip_by_value(tf.cast(pos, tf.int32), 0, length)
        return tf.cast(tf.io.decode_raw(tf.strings.substr(padded, pos, n), tf.uint8), tf.int64)

    def start(marker):
        pieces = tf.strings.split(data, marker, maxsplit=1)
        return tf.size(pieces) > 1, tf.strings.length(pieces[0]) + len(marker)

    found_j, start_j = start(b"Exif\x00\x00")
    found_p, start_p = start(b"eXIf")
    found = tf.where(is_jpeg, found_j, found_p)
    tiff = tf.cast(tf.where(is_jpeg, start_j, start_p), tf.int64)
    head = read(tiff, 8)
    little = tf.logical_and(tf.equal(head[0], 73), tf.equal(head[1], 73))
    big = tf.logical_and(tf.equal(head[0], 77), tf.equal(head[1], 77))

    def u16(b0, b1):
        return tf.where(little, b0 + 256 * b1, 256 * b0 + b1)

    def u32(b):
        return tf.where(little, b[0] + 256 * (b[1] + 256 * (b[2] + 256 * b[3])),
                        b[3] + 256 * (b[2] + 256 * (b[1] + 256 * b[0])))

    magic = tf.equal(u16(head[2], head[3]), 42)
    ifd = tiff + u32(head[4:8])
    count_bytes = read(ifd, 2)
    count = u16(count_bytes[0], count_bytes[1])
    entries = tf.reshape(read(ifd + 2, 12 * _SCAN_ENTRIES), [_SCAN_ENTRIES, 12])
    tags = u16(entries[:, 0], entries[:, 1])
    values = u16(entries[:, 8], entries[:, 9])
    match = tf.logical_and(tf.equal(tags, ORIENTATION_TAG), tf.range(_SCAN_ENTRIES, dtype=tf.int64) < count)
    value = tf.reduce_sum(tf.where(match, values, 0) * tf.cast(
        tf.equal(tf.cumsum(tf.cast(match, tf.int64)), 1), tf.int64))  # the first match
    ok = tf.reduce_all(tf.stack([found, tf.logical_or(little, big), magic, tf.reduce_any(match),
                                 value >= 1, value <= 8]))
    return tf.where(ok, value, 1)


def apply_orientation(image, orientation):
    """uint8 (H, W, 3) stored pixels -> as displayed: PIL's exif_transpose for orientations 2..8."""
    import tensorflow as tf

    transpose = lambda x: tf.transpose(x, [1, 0, 2])  # noqa: E731
    branches = [lambda: image,
                lambda: image[:, ::-1],  # 2: mirror left-right
                lambda: image[::-1, ::-1],  # 3: rotate 180
                lambda: image[::-1],  # 4: mirror top-bottom
                lambda: transpose(image),  # 5: transpose
                lambda: transpose(image[::-1]),  # 6: rotate 90 clockwise (PIL ROTATE_270)
                lambda: transpose(image[::-1, ::-1]),  # 7: transverse
                lambda: transpose(image[:, ::-1])]  # 8: rotate 90 counter-clockwise (PIL ROTATE_90)
    out = tf.switch_case(tf.cast(orientation, tf.int32) - 1, branches)
    out.set_shape([None, None, image.shape[-1]])
    return out
