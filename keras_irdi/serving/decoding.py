"""Images as the SavedModel takes them: encoded bytes decoded, and pixel tensors checked, in graph ops under the
shared input rules (``keras_irdi.data.input_rules``), and the resize rule that fits any image to the network's
input.

Graph ops only (no ``tf.py_function``), so both run inside TF Serving; ``irdi-predict`` applies the same
``fit_to_input`` to the files it reads with PIL.
"""
from __future__ import annotations

import sys

from keras_irdi.tfenv import load_tensorflow

tf = load_tensorflow("--verbose" in sys.argv)

from keras_irdi.data.input_rules import MAX_BYTES, MAX_SIDE, apply_orientation, exif_orientation, input_rules  # noqa: E402,F401,E501

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def fit_to_input(image, size: int) -> tf.Tensor:
    """uint8 RGB (H, W, 3) -> uint8 (size, size, 3): untouched if already size x size, else centre-crop
    to a square and resize with antialiased bilinear interpolation, rounding to the nearest integer."""
    image = tf.convert_to_tensor(image, tf.uint8)
    height, width = tf.shape(image)[0], tf.shape(image)[1]

    def crop_and_resize():
        side = tf.minimum(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = image[top:top + side, left:left + side, :]
        resized = tf.image.resize(square, [size, size], method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    same = tf.logical_and(tf.equal(height, size), tf.equal(width, size))
    out = tf.cond(same, lambda: tf.identity(image), crop_and_resize)
    out.set_shape([size, size, 3])
    return out


def _after(checks, tensor):
    """``tensor``, but only once every check passed (stateless ops are otherwise free to run first)."""
    with tf.control_dependencies([c for c in checks if c is not None]):  # None when run eagerly
        return tf.identity(tensor)


def _require(condition, message, *values):
    """InvalidArgumentError "assertion failed: [message] [values...]" unless condition holds.

    Only our own text and numbers go into the message, never the input bytes (a message that is not
    valid UTF-8 turns into a UnicodeDecodeError in Python clients instead of a TF error)."""
    return tf.debugging.Assert(condition, [message, *values])


def _png_declared_size(data):
    """(height, width) from the IHDR chunk, which PNG requires to come first (bytes 16..23, big-endian)."""
    # Padded so that no substr can fail on short input.
    head = tf.strings.substr(tf.strings.join([data, b"\0" * 24]), 0, 24)
    head = _after([_require(tf.strings.length(data) >= 24, "truncated PNG header"),
                   _require(tf.equal(tf.strings.substr(head, 12, 4), "IHDR"), "PNG without IHDR chunk")], head)
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 16, 8), tf.uint8), tf.int64)
    be32 = lambda b: ((b[0] * 256 + b[1]) * 256 + b[2]) * 256 + b[3]  # noqa: E731
    return tf.stack([be32(raw[4:8]), be32(raw[0:4])])


def _jpeg_declared_size(data):
    return tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)


def _checked(rules, tensor):
    """``tensor`` once every rule of ``data.input_rules.input_rules`` holds (InvalidArgumentError otherwise).
    Checked one after the other, so the error names the first rule broken, as irdi-predict's does."""
    check = None
    for holds, message, values in rules:
        with tf.control_dependencies([] if check is None else [check]):
            check = _require(holds, message, *values)
    return _after([check], tensor)


def checked_pixels(images, size: int | None = None, max_side: int = MAX_SIDE) -> tf.Tensor:
    """uint8 pixels [..., H, W, C] as a tensor signature takes them, once the input rules hold: 3 channels,
    sides within 1..``max_side``, and exactly ``size`` x ``size`` when given (``serving_default``). The
    signature's shape is a contract TF Serving does not enforce: without these a wrong shape fails deep inside
    the network with TensorFlow's own message."""
    shape = tf.shape(images, out_type=tf.int64)
    return _checked(input_rules(height=shape[-3], width=shape[-2], channels=shape[-1], size=size,
                                max_side=max_side), images)


def _png_frames(data):
    """Frames of an animated PNG (the acTL chunk, which must come before IDAT), else 1."""
    position = lambda marker: tf.strings.length(tf.strings.split(data, marker, maxsplit=1)[0])  # noqa: E731
    actl = position(b"acTL")
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(tf.strings.join([data, b"\0" * 8]), actl + 4, 4), tf.uint8),
                  tf.int64)
    return tf.where(actl < position(b"IDAT"), ((raw[0] * 256 + raw[1]) * 256 + raw[2]) * 256 + raw[3],
                    tf.constant(1, tf.int64))


def decode_to_rgb(data) -> tf.Tensor:
    """One encoded JPEG/PNG (scalar string) -> uint8 (H, W, 3) as displayed (EXIF orientation applied),
    refusing what ``data.input_rules.input_rules`` refuses before anything large is allocated (see the
    module docstring)."""
    data = tf.convert_to_tensor(data, tf.string)
    length = tf.strings.length(data)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
    is_png = tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC)
    data = _checked(input_rules(length, tf.logical_or(is_jpeg, is_png)), data)
    declared = tf.cond(is_jpeg, lambda: _jpeg_declared_size(data), lambda: _png_declared_size(data))
    frames = tf.cond(is_png, lambda: _png_frames(data), lambda: tf.constant(1, tf.int64))
    # The decoders below only run once the declared size (and the frame count) passed.
    data = _checked(input_rules(height=declared[0], width=declared[1], frames=frames), data)
    # INTEGER_ACCURATE: bit-identical to PIL's decoding, which made every JPEG the networks were trained
    # on (TF's default IDCT differs by up to ~7 levels).
    decoded = tf.cond(is_jpeg, lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                      lambda: _png_to_rgb(tf.io.decode_png(data, channels=0)))
    decoded.set_shape([None, None, 3])
    return apply_orientation(decoded, exif_orientation(data, is_jpeg))


def _png_to_rgb(image):
    """1..4 channel uint8 image -> RGB; gray expanded, alpha composited onto white (as predict's PIL path)."""
    channels = tf.shape(image)[-1]
    color = tf.cond(channels >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))

    def on_white():
        alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
        out = tf.cast(color, tf.float32) * alpha + 255.0 * (1.0 - alpha)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    return tf.cond(has_alpha, on_white, lambda: color)
