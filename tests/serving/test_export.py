"""keras_irdi.serving.export: TF Serving SavedModel of a (tiny, random-weight) run; both signatures, rules, fuzzing."""
import io
import json
from pathlib import Path
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_irdi.runs.directory import RunDir
from keras_irdi.serving.export import MAX_SIDE, decode_to_rgb, export_serving, fit_to_input, main
from keras_irdi.models.composites import build_composite, required_stages
from odd_images import png_raw

KEYS = {"probabilities", "class_id", "class_name", "estimated_level", "weights"}


@pytest.fixture(scope="module")
def export_root(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    path = export_serving(tiny_run, root, "proposed")
    return root, path


@pytest.fixture(scope="module")
def loaded(export_root):
    return tf.saved_model.load(str(export_root[1]))


def keras_composite(run_dir, name):
    run = RunDir(run_dir)
    return build_composite(name, run.load_stages(*required_stages(name)), "jpeg")


def images(n, seed=0, size=32):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def png_bytes(array, mode=None):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


def test_layout_and_signatures(export_root, loaded):
    root, path = export_root
    assert path == root / "proposed" / "1"
    assert (path / "saved_model.pb").exists() and (path / "assets.extra" / "irdi.json").exists()
    assert set(loaded.signatures) == {"serving_default", "serve_bytes", "restore"}
    for name, (key, dtype) in {"serving_default": ("images", tf.uint8),
                               "serve_bytes": ("image_bytes", tf.string)}.items():
        spec = loaded.signatures[name].structured_input_signature[1][key]
        assert spec.dtype == dtype
        assert set(loaded.signatures[name].structured_outputs) == KEYS
    assert loaded.signatures["serving_default"].structured_input_signature[1]["images"].shape.as_list() == [
        None, 32, 32, 3]


def test_serving_default_matches_keras(tiny_run, loaded):
    x = images(5)
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    ref = keras_composite(tiny_run, "proposed")(x.astype(np.float32), training=False)
    np.testing.assert_allclose(out["probabilities"].numpy(), ref["probabilities"], atol=1e-5)
    np.testing.assert_allclose(out["estimated_level"].numpy(), np.asarray(ref["level"])[:, 0], atol=1e-5)
    np.testing.assert_allclose(out["weights"].numpy(), ref["weights"], atol=1e-5)
    ids = np.argmax(np.asarray(ref["probabilities"]), axis=-1)
    np.testing.assert_array_equal(out["class_id"].numpy(), ids)
    names = RunDir(tiny_run).manifest()["class_names"]
    assert [n.decode() for n in out["class_name"].numpy()] == [names[i] for i in ids]
    assert out["class_id"].dtype == tf.int64 and out["estimated_level"].shape == (5,)
    assert out["weights"].shape == (5, 2)


def test_serve_bytes_png_matches_serving_default(loaded):
    x = images(4, seed=1)
    by_bytes = loaded.signatures["serve_bytes"](image_bytes=tf.constant([png_bytes(im) for im in x]))
    direct = loaded.signatures["serving_default"](images=tf.constant(x))
    for key in ("probabilities", "estimated_level", "weights"):
        np.testing.assert_allclose(by_bytes[key].numpy(), direct[key].numpy(), atol=1e-5)
    np.testing.assert_array_equal(by_bytes["class_name"].numpy(), direct["class_name"].numpy())
    empty = loaded.signatures["serve_bytes"](image_bytes=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 10)


def test_no_py_func_in_graphs(loaded):
    for name, fn in loaded.signatures.items():
        graph_def = fn.graph.as_graph_def()
        ops = {node.op for node in graph_def.node}
        for function in graph_def.library.function:
            ops |= {node.op for node in function.node_def}
        assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}, name
        if name == "serve_bytes":  # the library really was searched
            assert {"DecodePng", "DecodeJpeg", "ExtractJpegShape"} <= ops


def test_fit_to_input_rule():
    x = images(1, size=32)[0]
    np.testing.assert_array_equal(fit_to_input(x, 32).numpy(), x)  # exact size: untouched
    tall = np.random.default_rng(2).integers(0, 256, (40, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(fit_to_input(tall, 32).numpy(), tall[4:36])  # centre crop only
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 200  # the centre square is uniform: stays uniform after the resize
    out = fit_to_input(wide, 32).numpy()
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8 and np.all(out == 200)
    assert fit_to_input(np.full((1, 1, 3), 7, np.uint8), 32).numpy().min() == 7


@pytest.mark.parametrize("mode, fmt", [("L", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("LA", "PNG"),
                                       ("RGB", "JPEG"), ("L", "JPEG")])
def test_decode_matches_predict_loader(tmp_path, mode, fmt):
    """serve_bytes' decoder and predict's PIL loader agree (grayscale, alpha on white, palette; JPEG exactly)."""
    from keras_irdi.data.images import load_image

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (32, 40, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    image = image.convert(mode) if mode != "P" else image.convert("RGB").convert("P")
    path = tmp_path / f"x_{mode}.{fmt.lower()}"
    image.save(path, fmt, **({"quality": 30} if fmt == "JPEG" else {}))
    decoded = decode_to_rgb(tf.constant(path.read_bytes())).numpy().astype(int)
    expected = load_image(path).astype(int)
    if fmt == "JPEG":  # the same IDCT as PIL, which decoded every training image
        np.testing.assert_array_equal(decoded, expected)
    else:  # alpha compositing may round differently
        np.testing.assert_allclose(decoded, expected, atol=1)


def test_sixteen_bit_gray_decodes_to_the_same_pixels_as_predict(tmp_path):
    """A 16-bit grayscale PNG: libpng's high byte in serve_bytes, the same pixels in predict's loader (every
    value from 0 to 64371 in steps of 129, so rounding by / 257 would differ at many of them)."""
    from keras_irdi.data.images import load_image

    values = np.arange(0, 65536, 129, dtype=np.uint16)[:500].reshape(20, 25)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    decoded = decode_to_rgb(tf.constant(path.read_bytes())).numpy()
    np.testing.assert_array_equal(decoded, load_image(path))
    assert decoded[..., 0].tolist() == (values >> 8).tolist()


@pytest.mark.slow
def test_other_networks_conventions(tiny_run, loaded, tmp_path):
    x = images(6, seed=4)
    proposed = loaded.signatures["serving_default"](images=tf.constant(x))
    for name, fixed in (("ens_cla", None), ("seq_res", (0.0, 1.0))):
        path = export_serving(tiny_run, tmp_path, name)
        assert path == tmp_path / name / "1"
        out = tf.saved_model.load(str(path)).signatures["serving_default"](images=tf.constant(x))
        ref = keras_composite(tiny_run, name)(x.astype(np.float32), training=False)
        np.testing.assert_allclose(out["probabilities"].numpy(), ref, atol=1e-5)
        # The run has an estimator, so every network reports the same level estimate as Proposed.
        np.testing.assert_allclose(out["estimated_level"].numpy(), proposed["estimated_level"].numpy(), atol=1e-5)
        w = out["weights"].numpy()
        if fixed:
            np.testing.assert_array_equal(w, np.tile(fixed, (6, 1)))
        else:  # Ens(Cla): one-hot of the classifier whose vector was taken
            stages = RunDir(tiny_run).load_stages("cla_org")
            p_org = stages["cla_org"](x.astype(np.float32) / 255.0, training=False).numpy()
            took_org = np.all(np.isclose(out["probabilities"].numpy(), p_org, atol=1e-6), axis=-1)
            np.testing.assert_array_equal(w[:, 0], took_org.astype(np.float32))
            np.testing.assert_array_equal(w.sum(axis=1), 1.0)


def test_without_estimator_level_is_minus_one(tiny_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "manifest.json", run)
    shutil.copytree(tiny_run / "cla_org", run / "cla_org")
    path = export_serving(run, tmp_path / "out", "cla_org")
    out = tf.saved_model.load(str(path)).signatures["serving_default"](images=tf.constant(images(3)))
    np.testing.assert_array_equal(out["estimated_level"].numpy(), [-1, -1, -1])
    np.testing.assert_array_equal(out["weights"].numpy(), [[1, 0]] * 3)


@pytest.mark.slow
def test_versioning_and_cli_errors(tiny_run, export_root, tmp_path, capsys):
    root, _ = export_root
    (root / "proposed" / "notaversion").mkdir()  # ignored, as TF Serving does
    assert main(["--run-dir", str(tiny_run), "--out", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(root / "proposed" / "2")
    assert (root / "proposed" / "2" / "saved_model.pb").exists()
    assert not [p for p in (root / "proposed").iterdir() if p.name.startswith(".tmp")]
    # An existing version is never overwritten.
    assert main(["--run-dir", str(tiny_run), "--out", str(root), "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    fresh = tmp_path / "fresh"  # a version below 1: refused before anything is built or made
    assert main(["--run-dir", str(tiny_run), "--out", str(fresh), "--version", "0"]) == 2
    assert "--version must be a positive integer, got 0" in capsys.readouterr().err and not fresh.exists()
    # A missing stage: the MissingStageError message on one line, exit 2, no traceback.
    run = tmp_path / "partial"
    run.mkdir()
    shutil.copy(tiny_run / "manifest.json", run)
    assert main(["--run-dir", str(run), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "irdi train --stage restoration" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "proposed").exists()


# -- fuzzing serve_bytes --------------------------------------------------------------------------
def png_declaring(width, height):
    """A well-formed PNG header (valid CRCs) that declares width x height but holds almost no data."""
    return png_raw(width, height, b"\0" * 64)


def jpeg_declaring(width, height):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def valid_images(rng):
    out = []
    for (h, w) in ((1, 1), (7, 300), (300, 7), (32, 32), (33, 31), (2, 5), (64, 48)):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for fmt, mode in (("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("JPEG", "L")):
            buf = io.BytesIO()
            Image.fromarray(arr).convert(mode).save(buf, fmt)
            out.append(buf.getvalue())
    return out


def fuzz_cases(n, seed):
    """(bytes, expectation) with expectation 'ok', 'error' or None (either is fine)."""
    rng = np.random.default_rng(seed)
    valid = valid_images(rng)
    other_formats = []
    for fmt in ("GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        try:
            Image.new("RGB", (4, 4)).save(buf, fmt)
            other_formats.append(buf.getvalue())
        except (KeyError, OSError):
            pass
    cases = [(b, "ok") for b in valid]
    cases += [(b"", "error"), (b"\x89PNG\r\n\x1a\n", "error"), (b"\xff\xd8\xff", "error")]
    cases += [(b, "error") for b in other_formats]
    cases += [(png_declaring(w, h), "error") for w, h in ((60000, 60000), (MAX_SIDE + 1, 1), (1, MAX_SIDE + 1),
                                                        (0, 5), (2 ** 31 - 1, 2 ** 31 - 1), (2 ** 32 - 1, 1))]
    cases += [(jpeg_declaring(w, h), "error") for w, h in ((60000, 60000), (65535, 1), (MAX_SIDE + 1, 8), (0, 8))]
    while len(cases) < n:
        kind = rng.integers(6)
        base = valid[rng.integers(len(valid))]
        if kind == 0:  # random bytes
            data = rng.integers(0, 256, rng.integers(0, 400), dtype=np.uint8).tobytes()
        elif kind == 1:  # truncated
            data = base[:rng.integers(0, len(base))]
        elif kind == 2:  # a few bytes changed
            arr = bytearray(base)
            for pos in rng.integers(0, len(arr), rng.integers(1, 12)):
                arr[pos] = rng.integers(256)
            data = bytes(arr)
        elif kind == 3:  # a valid magic number, then garbage
            magic = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")[rng.integers(2)]
            data = magic + rng.integers(0, 256, rng.integers(0, 300), dtype=np.uint8).tobytes()
        elif kind == 4:  # valid header, garbage body
            cut = rng.integers(8, min(200, len(base)))
            data = base[:cut] + rng.integers(0, 256, rng.integers(0, 300), dtype=np.uint8).tobytes()
        else:  # huge declared size inside a mutated header
            side = int(rng.integers(MAX_SIDE + 1, 65536))
            data = png_declaring(side, int(rng.integers(1, 65536))) if rng.integers(2) else jpeg_declaring(side, 8)
            cases.append((data, "error"))
            continue
        cases.append((data, None))
    return cases


def test_fuzz_serve_bytes(loaded):
    fn = loaded.signatures["serve_bytes"]
    cases = fuzz_cases(3000, seed=20201025)
    start, counts = time.time(), {"ok": 0, "error": 0}
    for i, (data, expected) in enumerate(cases):
        try:
            out = fn(image_bytes=tf.constant([data]))
        except tf.errors.OpError:
            got = "error"
        else:
            assert out["probabilities"].shape == (1, 10) and out["weights"].shape == (1, 2), i
            assert out["class_name"].shape == (1,) and out["estimated_level"].shape == (1,), i
            assert np.all(np.isfinite(out["probabilities"].numpy())), i
            got = "ok"
        assert expected in (None, got), (i, expected, got, data[:40])
        counts[got] += 1
    assert sum(counts.values()) == len(cases) >= 1000
    assert counts["ok"] >= 35 and counts["error"] >= 300, counts
    assert time.time() - start < 120


def test_huge_header_rejected_by_the_size_rule(loaded):
    """The size check fires (not the decoder), so the decoder never allocates the declared buffer."""
    fn = loaded.signatures["serve_bytes"]
    for data in (png_declaring(60000, 60000), jpeg_declaring(60000, 60000)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"larger than {MAX_SIDE} pixels per side"):
            fn(image_bytes=tf.constant([data]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a JPEG or PNG"):
        fn(image_bytes=tf.constant([b"GIF89a" + b"\0" * 20]))
    # One bad image fails its request; the model keeps serving.
    ok = fn(image_bytes=tf.constant([png_bytes(images(1)[0])]))
    assert ok["probabilities"].shape == (1, 10)


# TF Serving's loader: a session restores the variables through the MetaGraph's saver and runs the
# signature's tensors. Run in a fresh process that never imports keras_irdi (as a server would not).
SESSION_LOADER = r"""
import sys
import numpy as np
import tensorflow as tf

export_dir, images_path, bytes_path, out_path = sys.argv[1:5]
tf.compat.v1.disable_eager_execution()
results = {}
with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
    feeds = {"serving_default": ("images", np.load(images_path)),
             "serve_bytes": ("image_bytes", np.load(bytes_path, allow_pickle=True))}
    for name, (key, value) in feeds.items():
        sig = meta.signature_def[name]
        fetch = {k: t.name for k, t in sig.outputs.items()}
        out = sess.run(fetch, {sig.inputs[key].name: value})
        for k, v in out.items():
            results[f"{name}/{k}"] = v
np.savez(out_path, **results)
"""


@pytest.mark.slow
@pytest.mark.parametrize("network", ["proposed", "ens_cla", "cla_org", "seq_res"])
def test_session_loader_runs_both_signatures(tiny_run, tmp_path, network):
    import subprocess
    import sys

    path = export_serving(tiny_run, tmp_path, network)
    x = images(3, seed=7)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "b.npy", np.array([png_bytes(im) for im in x], dtype=object), allow_pickle=True)
    script = tmp_path / "load.py"
    script.write_text(SESSION_LOADER)
    proc = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "b.npy"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "keras_irdi" not in proc.stderr
    out = np.load(tmp_path / "out.npz", allow_pickle=True)
    ref = keras_composite(tiny_run, network)(x.astype(np.float32), training=False)
    probs = ref["probabilities"] if network == "proposed" else ref
    for sig in ("serving_default", "serve_bytes"):
        np.testing.assert_allclose(out[f"{sig}/probabilities"], np.asarray(probs), atol=1e-5)
        np.testing.assert_array_equal(out[f"{sig}/class_id"], np.argmax(np.asarray(probs), axis=-1))
        assert out[f"{sig}/weights"].shape == (3, 2) and out[f"{sig}/estimated_level"].shape == (3,)


def test_unwritable_out_is_one_line(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["--run-dir", str(tiny_run), "--out", str(blocker / "models")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write into") and err.count("\n") == 1 and "--out" in err


def test_onnx_without_the_packages_is_one_line(tiny_run, tmp_path, capsys, monkeypatch, restore_signals):
    """Here, not beside the ONNX tests (which skip without the packages): the message matters where they are missing."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else find_spec(name, *a))
    assert main(["--run-dir", str(tiny_run), "--out", str(tmp_path), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tf2onnx" in err and "pip install 'keras-irdi[onnx]'" in err
    assert not list(tmp_path.iterdir())  # refused before anything was built or written


@pytest.mark.slow
def test_three_member_weight_net_with_features_exports_and_predicts(tmp_path, capsys):
    """A weight-net variant (Cla(deg) as a third member, the members' confidence as features) runs through
    the composite, the SavedModel and irdi-predict alike, with its weight columns named."""

    from conftest import make_tiny_run
    from keras_irdi.models import build_weight_net
    from keras_irdi.serving.predict import main as predict_main

    run_dir = make_tiny_run(tmp_path / "run")
    net = build_weight_net(hidden=(4,), members=("seq_org", "seq_res", "cla_deg"), features="confidence")
    RunDir(run_dir).save_stage("weight_net", net, config={}, export=False)
    path = export_serving(run_dir, tmp_path / "exports", "proposed")
    x = images(3, seed=4)
    out = tf.saved_model.load(str(path)).signatures["serving_default"](images=tf.constant(x))
    ref = keras_composite(run_dir, "proposed")(x.astype(np.float32), training=False)
    assert out["weights"].shape == (3, 3)
    np.testing.assert_allclose(out["weights"].numpy(), ref["weights"], atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy(), ref["probabilities"], atol=1e-5)
    info = json.loads((path / "assets.extra" / "irdi.json").read_text())
    assert info["weights_columns"] == ["w_org", "w_res", "w_deg"]
    assert info["run"] == Path(run_dir).name and str(tmp_path) not in json.dumps(info)  # no path of this machine
    png = tmp_path / "a.png"
    Image.fromarray(x[0]).save(png)
    for model_dir in (run_dir, path):
        assert predict_main([str(model_dir), str(png), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)[0]
        assert list(result["weights"]) == ["w_org", "w_res", "w_deg"]
        assert sum(result["weights"].values()) == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(list(result["weights"].values()), out["weights"].numpy()[0], atol=1e-5)
