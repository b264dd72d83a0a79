"""One set of input rules for irdi-predict and serve_bytes (keras_irdi/data/input_rules.py), and photos
classified as they are displayed: the EXIF orientation applied identically by PIL (predict) and in the
TF graph (serve_bytes)."""
import io
import json
import struct
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from keras_irdi.data.images import read_input_file
from keras_irdi.data.input_rules import MAX_SIDE, input_rules
from keras_irdi.errors import InputError
from keras_irdi.serving.decoding import decode_to_rgb
from odd_images import png_raw

RNG = np.random.default_rng(0)
DISPLAYED = RNG.integers(0, 256, (24, 40, 3), dtype=np.uint8)  # not square: a rotation shows in the shape


def exif_block(orientation, order="II", extra_entries=0):
    """b"Exif\\0\\0" + a TIFF block whose IFD0 holds ``extra_entries`` other tags, then the orientation."""
    e = "<" if order == "II" else ">"
    entries = [struct.pack(e + "HHIHH", 0x0100 + i, 3, 1, 7, 0) for i in range(extra_entries)]
    entries.append(struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0))
    return (b"Exif\0\0" + order.encode() + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", len(entries))
            + b"".join(entries) + struct.pack(e + "I", 0))


def encoded(array, fmt, exif=None):
    buf = io.BytesIO()
    kw = {"quality": 95} if fmt == "JPEG" else {}
    if exif is not None:
        kw["exif"] = exif
    Image.fromarray(array).save(buf, fmt, **kw)
    return buf.getvalue()


def pil_displayed(data):
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_the_same_way_by_predict_and_serve_bytes(tmp_path, fmt, order, orientation):
    data = encoded(DISPLAYED, fmt, exif_block(orientation, order, extra_entries=orientation))
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(data)
    expected = pil_displayed(data)  # what a viewer (PIL's exif_transpose) shows
    by_predict = read_input_file(path)
    by_serving = decode_to_rgb(tf.constant(data)).numpy()
    assert by_predict.shape == by_serving.shape == expected.shape
    assert by_predict.shape[:2] == ((40, 24) if orientation >= 5 else (24, 40))
    np.testing.assert_array_equal(by_predict, expected)
    np.testing.assert_array_equal(by_serving, expected)


@pytest.mark.parametrize("exif", [exif_block(9), exif_block(0), exif_block(6)[:14], b"Exif\0\0XX*\0\0\0\0\0",
                                  exif_block(6, "MM")[:-20]])
def test_unreadable_exif_leaves_the_pixels_as_stored_in_both(exif):
    data = encoded(DISPLAYED, "PNG", exif)
    np.testing.assert_array_equal(decode_to_rgb(tf.constant(data)).numpy(), DISPLAYED)
    with Image.open(io.BytesIO(data)) as image:
        from keras_irdi.data.input_rules import as_displayed
        np.testing.assert_array_equal(np.asarray(as_displayed(image).convert("RGB")), DISPLAYED)


@pytest.mark.slow
def test_a_phone_photo_is_classified_as_displayed(tiny_run, tmp_path, capsys):
    from keras_irdi.serving.export import build_serving_module
    from keras_irdi.serving.predict import main

    stored = np.ascontiguousarray(np.rot90(DISPLAYED, k=1))  # a camera held sideways stores it turned...
    phone, upright = tmp_path / "phone.png", tmp_path / "upright.png"
    phone.write_bytes(encoded(stored, "PNG", exif_block(6)))  # ... and says so: orientation 6
    upright.write_bytes(encoded(DISPLAYED, "PNG"))
    assert main([str(tiny_run), str(phone), str(upright), "--json", "--top-k", "10"]) == 0
    a, b = json.loads(capsys.readouterr().out)
    assert a["top_k"] == b["top_k"]
    module = build_serving_module(tiny_run)
    out = module.serve_bytes(tf.constant([phone.read_bytes(), upright.read_bytes()]))["probabilities"].numpy()
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    np.testing.assert_allclose(out[0], [t["probability"] for t in sorted(a["top_k"], key=lambda t: t["class_id"])],
                               atol=1e-5)


def _apng(frames):
    buf = io.BytesIO()
    images = [Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)) for i in range(frames)]
    images[0].save(buf, "PNG", save_all=True, append_images=images[1:])
    return buf.getvalue()


def _gif(frames):
    buf = io.BytesIO()
    images = [Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)) for i in range(frames)]
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:])
    return buf.getvalue()


def _bmp():
    buf = io.BytesIO()
    Image.fromarray(DISPLAYED).save(buf, "BMP")
    return buf.getvalue()


CASES = {  # name -> (bytes, the rule's message, or None if accepted)
    "photo_jpeg": (encoded(DISPLAYED, "JPEG"), None),
    "apng_one_frame": (_apng(1), None),
    "wide_png": (png_raw(MAX_SIDE + 1, 1, b"\0" + b"\0" * 3 * (MAX_SIDE + 1)),
                 f"larger than {MAX_SIDE} pixels per side"),
    "huge_png_header": (png_raw(13000, 13000), f"larger than {MAX_SIDE} pixels per side"),
    "animated_png": (_apng(3), "animated image"),
    "animated_gif": (_gif(3), "not a JPEG or PNG image"),
    "gif": (_gif(1), "not a JPEG or PNG image"),
    "bmp": (_bmp(), "not a JPEG or PNG image"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_predict_and_serve_bytes_accept_and_refuse_the_same_files(tmp_path, name):
    data, rule = CASES[name]
    path = tmp_path / f"{name}.png"  # the extension says nothing: the content decides
    path.write_bytes(data)
    start = time.time()
    if rule is None:
        np.testing.assert_array_equal(read_input_file(path), decode_to_rgb(tf.constant(data)).numpy())
        return
    with pytest.raises(InputError) as err:
        read_input_file(path)
    assert str(err.value).startswith(f"{path}: ") and rule in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rule):
        decode_to_rgb(tf.constant(data))
    assert time.time() - start < 5  # refused from the header: nothing of 13000x13000 is decoded


def test_one_function_states_the_rules_for_numbers_and_tensors():
    by_number = input_rules(100, True, MAX_SIDE + 1, 5, 2)
    by_tensor = input_rules(tf.constant(100), tf.constant(True), tf.constant(MAX_SIDE + 1), tf.constant(5),
                            tf.constant(2))
    assert [m for _, m, _ in by_number] == [m for _, m, _ in by_tensor]
    assert [bool(h) for h, _, _ in by_number] == [bool(h.numpy()) for h, _, _ in by_tensor] == [True, True, True,
                                                                                               False, False]


@pytest.mark.slow
def test_predict_cli_refuses_a_huge_png_in_one_line(tiny_run, tmp_path):
    from helpers import REPO
    import subprocess
    import sys

    big = tmp_path / "big.png"
    big.write_bytes(png_raw(13000, 13000))
    proc = subprocess.run([sys.executable, "-m", "keras_irdi.serving.predict", str(tiny_run), str(big)],
                          capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"error: {big}: image larger than {MAX_SIDE} pixels per side: height, width = 13000, 13000")
