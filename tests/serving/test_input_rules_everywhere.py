"""One set of input rules (keras_irdi/data/input_rules.py) for irdi-predict, irdi-restore and every signature of
the export, each rule with its message; a file name that is not UTF-8 is printed with escapes, never a crash."""
import os
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_irdi.data.input_rules import MAX_SIDE, RESTORE_MAX_SIDE, input_rules
from keras_irdi.serving import predict, restore

RNG = np.random.default_rng(0)


def _pixels(height=20, width=30):
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def files(tmp_path):
    """A good PNG, and one file of each format predict refuses (GIF, TIFF, BMP, an animated PNG)."""
    f = {"good": tmp_path / "good.png"}
    Image.fromarray(_pixels()).save(f["good"])
    for fmt in ("GIF", "TIFF", "BMP"):
        f[fmt] = tmp_path / f"photo.{fmt.lower()}"
        Image.fromarray(_pixels()).save(f[fmt], fmt)
    f["APNG"] = tmp_path / "animated.png"
    Image.fromarray(_pixels()).save(f["APNG"], save_all=True, append_images=[Image.fromarray(_pixels())])
    return f


def _errors(capsys):
    return capsys.readouterr().err.splitlines()


def test_restore_refuses_what_predict_refuses_with_the_same_line(tiny_run, files, tmp_path, capsys,
                                                                restore_signals):
    names = [str(files[k]) for k in ("GIF", "TIFF", "BMP", "APNG", "good")]
    expected = [f"error: {files[fmt]}: not a JPEG or PNG image (these are the formats accepted) (got {fmt})"
                for fmt in ("GIF", "TIFF", "BMP")]
    expected.append(f"error: {files['APNG']}: animated image (several frames), not a photo: frames = 2")
    assert predict.main([str(tiny_run), *names]) == 1
    assert _errors(capsys) == expected
    assert restore.main([str(tiny_run), *names, "--out", str(tmp_path / "out")]) == 1  # the others still run
    assert _errors(capsys) == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


def test_restore_keeps_its_larger_side_limit(tiny_run, tmp_path, capsys, restore_signals):
    strip = tmp_path / "strip.png"
    Image.fromarray(_pixels(2, MAX_SIDE + 10)).save(strip)
    assert predict.main([str(tiny_run), str(strip)]) == 1
    assert _errors(capsys) == [f"error: {strip}: image larger than {MAX_SIDE} pixels per side: height, width = "
                               f"2, {MAX_SIDE + 10}"]
    assert restore.main([str(tiny_run), str(strip), "--out", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "strip.png") as restored:
        assert restored.size == (MAX_SIDE + 10, 2)


def test_file_names_that_are_not_utf8_are_printed_with_escapes(tiny_run, tmp_path, capsys, restore_signals):
    """pytest's captured stdout and stderr are strict UTF-8, as ``PYTHONIOENCODING=utf-8:strict`` makes them."""
    cafe = tmp_path / os.fsdecode(b"caf\xe9.png")
    broken = tmp_path / os.fsdecode(b"bad\xff.png")
    Image.fromarray(_pixels()).save(cafe)
    broken.write_bytes(b"not an image")
    after = tmp_path / "after.png"
    Image.fromarray(_pixels()).save(after)
    names = [str(cafe), str(broken), str(after)]
    shown_cafe, shown_broken = f"{tmp_path}/caf\\xe9.png", f"{tmp_path}/bad\\xff.png"

    assert predict.main([str(tiny_run), *names]) == 1
    out, err = capsys.readouterr()
    assert f"{shown_cafe}: " in out and f"{after}: " in out  # the file after them is classified too
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {shown_broken}: not a readable image")

    out_dir = tmp_path / "out"
    assert restore.main([str(tiny_run), *names, "--out", str(out_dir)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{shown_cafe} -> {out_dir}/caf\\xe9.png (30x20)",
                                f"{after} -> {out_dir}/after.png (30x20)"]
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {shown_broken}: not a readable image")
    assert sorted(os.listdir(os.fsencode(out_dir))) == [b"after.png", b"caf\xe9.png"]
    # and the one error boundary: a usage error naming such a path is one line too
    assert predict.main([str(tmp_path / os.fsdecode(b"run\xe9")), str(cafe)]) == 2
    assert _errors(capsys) == [f"error: {tmp_path}/run\\xe9: no such run directory or SavedModel"]


def _message(**values) -> str:
    """The one rule ``values`` break, as input_rules words it."""
    broken = [message for holds, message, _ in input_rules(**values) if not holds]
    assert len(broken) == 1
    return broken[0]


def _run_in_session(export_dir, signature, feeds):
    """Run a signature as TF Serving does: in a session, the fed shape not checked against the signature's
    (its input is mapped to a placeholder of unknown shape; Python's Session.run would refuse the feed)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(export_dir) / "saved_model.pb").read_bytes())
    sig = saved.meta_graphs[0].signature_def[signature]
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        placeholders = {name: tf.compat.v1.placeholder(tf.as_dtype(value.dtype), None) for name, value in feeds.items()}
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(export_dir), input_map={
            sig.inputs[name].name: placeholders[name] for name in feeds})
        fetch = [graph.get_tensor_by_name(t.name) for t in sig.outputs.values()]
        return sess.run(fetch, {placeholders[name]: value for name, value in feeds.items()})


@pytest.mark.slow
def test_tensor_signatures_check_shape_and_channels_with_the_rules_messages(tiny_run, tmp_path):
    from keras_irdi.serving.export import export_serving

    export = export_serving(tiny_run, tmp_path / "export", "proposed")
    s = 32  # the tiny run's input size
    image = lambda h, w, c=3: np.zeros((h, w, c), np.uint8)  # noqa: E731
    cases = [("serving_default", {"images": image(200, 100)[None]},
              _message(height=200, width=100, channels=3, size=s)),
             ("serving_default", {"images": image(1, 1)[None]}, _message(height=1, width=1, channels=3, size=s)),
             ("serving_default", {"images": image(s, s, 4)[None]}, _message(height=s, width=s, channels=4, size=s)),
             ("restore", {"image": image(0, 10), "quality": np.int32(50)},
              _message(height=0, width=10, channels=3, max_side=RESTORE_MAX_SIDE)),
             ("restore", {"image": image(8, 8, 4), "quality": np.int32(50)},
              _message(height=8, width=8, channels=4, max_side=RESTORE_MAX_SIDE))]
    for signature, feeds, message in cases:
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"assertion failed: [{message}]")):
            _run_in_session(export, signature, feeds)
    assert _run_in_session(export, "restore", {"image": image(8, 8), "quality": np.int32(50)})[0].shape == (8, 8, 3)
    # a Python client's call reaches the checks where the signature's own shape allows the input
    loaded = tf.saved_model.load(str(export))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"assertion failed: [{cases[3][2]}]")):
        loaded.signatures["restore"](image=tf.constant(image(0, 10)), quality=tf.constant(50))
