"""keras_irdi.serving.restore: tiled native-resolution restoration in graph ops (tiled == untiled), the quality
gate's share, irdi-restore, and the export's restore signature, which gives irdi-restore's output (in process
and in TF Serving's session loader)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi.metrics import cpsnr
from keras_irdi.models.restoration import build_restoration_net
from keras_irdi.models.restoration_gate import RESAVE_ABOVE
from keras_irdi.runs.directory import RunDir
from keras_irdi.serving.restore import (RECEPTIVE_RADIUS, TILE, UNKNOWN_QUALITY, main, restore_files,
                                        restore_function, restore_graph)
from helpers import REPO

SHARED = Path(os.environ.get("IRDI_DATA") or REPO.parent / "shared" / "data")
SHIPPED_JPEG = REPO / "models" / "small_v1_jpeg_cifar10"


@pytest.fixture(scope="module")
def random_net():
    """A restoration net whose residual is not zero (a fresh net starts as the identity)."""
    import keras

    keras.utils.set_random_seed(3)
    return build_restoration_net(8, zero_init_residual=False)


def noisy_image(height=150, width=110, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def restored(net, image, share=1.0, tile=TILE, margin=RECEPTIVE_RADIUS) -> np.ndarray:
    """``restore_graph`` as irdi-restore and the signature run it (in a tf.function), as int."""
    import tensorflow as tf

    run = tf.function(lambda x: restore_graph(net, x, share, tile, margin), autograph=False)
    return run(tf.constant(image)).numpy().astype(int)


def test_receptive_radius_is_the_dilated_body_s():
    seen = sum(max(d * (k - 1) // 2 for k, d in zip(layer.kernel_size, layer.dilation_rate))
               for layer in build_restoration_net(4).layers if hasattr(layer, "dilation_rate"))
    assert RECEPTIVE_RADIUS == seen == 16  # 33x33: 3x3 convolutions of dilation 1,2,3,4,3,2,1


def test_tiled_equals_untiled(random_net):
    image = noisy_image()  # 150x110: tiles of 40 leave partial ones at both edges
    tiled, whole = restored(random_net, image, tile=40), restored(random_net, image, tile=0)
    assert tiled.shape == image.shape and np.abs(whole - image).max() > 10  # not the identity
    assert np.abs(tiled - whole).max() <= 1 and (tiled != whole).mean() < 1e-3
    # too small a margin shows at the seams: the margin is what makes them agree
    assert (restored(random_net, image, tile=40, margin=4) != whole).mean() > 0.05
    for huge in (2 ** 31 - 1, 3_000_000_000):  # past int32 in the index sums: the whole image, not garbage
        assert (restored(random_net, image, tile=huge) == whole).all()


def test_share_of_the_residual(random_net):
    image = noisy_image(61, 47, seed=2)
    full, half = restored(random_net, image, tile=40), restored(random_net, image, 0.5, tile=40)
    assert np.abs(half - (image + (full - image) / 2)).max() <= 1 and (half != full).any()
    assert (restored(random_net, image, 0.0) == image).all()  # share 0: the image as it is


def test_restore_function_looks_the_share_up_by_quality(random_net):
    image = noisy_image(40, 50, seed=5)
    restore = restore_function(random_net, {10: 1.0, 50: 0.5, 100: 0.0}, tile=32)
    full, half = restored(random_net, image, tile=32), restored(random_net, image, 0.5, tile=32)
    for quality, expected in ((UNKNOWN_QUALITY, image), (-3, image), (10, full), (1, full), (50, half),
                              (95, image), (100, image), (300, image)):
        assert (restore(image, quality)["restored"].numpy() == expected).all(), quality
    ungated = restore_function(random_net, None, tile=32)  # a run without a gate: all of it, quality or not
    assert all((ungated(image, q)["restored"].numpy() == full).all() for q in (UNKNOWN_QUALITY, 95))


@pytest.mark.skipif(not (SHARED / "clean" / "BSD100").is_dir(), reason="no development data folder")
def test_shipped_net_on_a_photo_tiled_equals_untiled():
    import io

    from keras_irdi.data.images import load_image

    clean = load_image(sorted((SHARED / "clean" / "BSD100").iterdir())[0])
    buf = io.BytesIO()
    Image.fromarray(clean).save(buf, "JPEG", quality=20)
    degraded = np.asarray(Image.open(buf).convert("RGB"))
    net = RunDir(SHIPPED_JPEG).load_stage("restoration")
    tiled, whole = restored(net, degraded, tile=128), restored(net, degraded, tile=0)
    gain = cpsnr(clean, tiled) - cpsnr(clean, degraded)
    assert abs(cpsnr(clean, tiled) - cpsnr(clean, whole)) <= 0.01 and gain > 0.2


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(noisy_image(45, 70)).save(folder / "photo.png")
    Image.fromarray(noisy_image(40, 33)[..., 0], "L").save(folder / "gray.jpg", quality=30)
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(noisy_image(20, 21)).save(other / "photo.png")  # the same stem as folder/photo.png
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return {"photo": folder / "photo.png", "gray": folder / "gray.jpg", "same_stem": other / "photo.png",
            "corrupt": folder / "corrupt.jpg", "missing": folder / "missing.png"}


def test_cli_restores_good_files_and_names_bad_ones(tiny_run, files, tmp_path, capsys, restore_signals):
    out = tmp_path / "out"
    code = main([str(tiny_run), *(str(files[k]) for k in ("photo", "corrupt", "gray", "missing", "same_stem")),
                 "--out", str(out), "--tile", "16"])
    stdout, err = capsys.readouterr()
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {files['corrupt']}: not a readable image (")
    assert lines[1] == f"error: {files['missing']}: no such file"
    assert sorted(p.name for p in out.iterdir()) == ["gray.png", "photo-2.png", "photo.png"]
    for name, (w, h) in {"photo.png": (70, 45), "gray.png": (33, 40), "photo-2.png": (21, 20)}.items():
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.mode == "RGB" and image.size == (w, h)
    assert stdout.count(" -> ") == 3
    whole = tmp_path / "whole"
    assert main([str(tiny_run), str(files["photo"]), "--out", str(whole), "--tile", "0"]) == 0
    untiled, tiled = (np.asarray(Image.open(d / "photo.png")).astype(int) for d in (whole, out))
    assert np.abs(untiled - tiled).max() <= 1 and (untiled != tiled).mean() < 1e-3  # as test_tiled_equals_untiled
    assert (untiled != np.asarray(Image.open(files["photo"]))).any()  # restored, not copied


def test_cli_usage_errors(tiny_run, files, tmp_path, capsys, restore_signals):
    def run(*args):
        try:
            return main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            return exc.code

    assert run(tmp_path, files["photo"], "--out", tmp_path / "o") == 2
    assert "not a run directory" in capsys.readouterr().err
    assert run(tiny_run, files["photo"], "--out", files["photo"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert run(tiny_run, files["photo"], "--out", files["photo"] / "sub") == 2  # under a file: not creatable
    assert "cannot write into --out" in capsys.readouterr().err
    assert run(tiny_run, files["photo"], "--out", tmp_path / "o", "--tile", "-1") == 2
    assert run(tiny_run, files["photo"]) == 2  # --out is required
    no_net = tmp_path / "no_net"  # a run without a restoration net: refused before --out is made
    shutil.copytree(tiny_run, no_net)
    shutil.rmtree(no_net / "restoration")
    assert run(no_net, files["photo"], "--out", tmp_path / "new" / "sub") == 2
    assert "restoration not trained" in capsys.readouterr().err and not (tmp_path / "new").exists()


GATE = {"10": 1.0, "50": 0.5, "95": 0.25, "100": 0.0}


@pytest.fixture(scope="module")
def gated_run(tiny_run, random_net, tmp_path_factory):
    """The tiny run with a restoration net that changes its input, and a quality gate: all of the residual at
    QF 10, half at QF 50, a quarter at QF 95, none at QF 100."""
    import shutil

    run_dir = tmp_path_factory.mktemp("gated") / "run"
    shutil.copytree(tiny_run, run_dir)
    RunDir(run_dir).save_stage("restoration", random_net, config={}, export=False,
                               extra_json={"quality_gate.json": GATE})
    return run_dir


@pytest.fixture(scope="module")
def gated_export(gated_run, tmp_path_factory):
    from keras_irdi.serving.export import export_serving

    return export_serving(gated_run, tmp_path_factory.mktemp("restore_export"), "proposed")


@pytest.fixture(scope="module")
def client_files(clean_dir, tmp_path_factory):
    """A photo as JPEG files at QF 10, 50 and 95, as a PNG of the QF-50 one (its quality only in its pixels),
    and never compressed; {name: (path, the quality a client reads, as irdi-restore does)}."""
    folder = tmp_path_factory.mktemp("client_files")
    photo = np.asarray(Image.open(sorted(clean_dir.iterdir())[0]).convert("RGB"))[:96, :128]
    for q in (10, 50, 95):
        Image.fromarray(photo).save(folder / f"q{q}.jpg", quality=q)
    Image.open(folder / "q50.jpg").convert("RGB").save(folder / "q50_pixels.png")
    Image.fromarray(photo).save(folder / "clean.png")
    qualities = {"q10.jpg": 10, "q50.jpg": 50, "q95.jpg": 95, "q50_pixels.png": 50, "clean.png": None}
    return {name: (folder / name, q) for name, q in qualities.items()}


@pytest.fixture(scope="module")
def irdi_restored(gated_run, client_files, tmp_path_factory):
    """irdi-restore's output of each client file (gated), and of each with --full."""
    from keras_irdi.data.images import load_image

    out = {}
    for gated in (True, False):
        folder = tmp_path_factory.mktemp("gated" if gated else "full")
        results = restore_files(gated_run, [str(p) for p, _ in client_files.values()], folder, report=lambda _: 0,
                                gated=gated)
        if gated:  # the qualities the client files are said to have are those irdi-restore reads
            assert [r["quality"] for r in results] == [q for _, q in client_files.values()]
        for name, r in zip(client_files, results):
            out[name, gated] = np.asarray(Image.open(r["output"]))
    out["input"] = {name: load_image(path) for name, (path, _) in client_files.items()}
    return out


def test_restore_signature_gives_irdi_restore_s_output(gated_export, client_files, irdi_restored):
    import tensorflow as tf

    from tensorflow.core.protobuf import saved_model_pb2

    loaded = tf.saved_model.load(str(gated_export))
    assert {"serving_default", "serve_bytes", "restore"} <= set(loaded.signatures)
    restore = loaded.signatures["restore"]
    for name, (_, quality) in client_files.items():
        image = irdi_restored["input"][name]
        out = restore(image=tf.constant(image), quality=tf.constant(quality or UNKNOWN_QUALITY))["restored"].numpy()
        assert out.dtype == np.uint8 and (out == irdi_restored[name, True]).all(), name
    # the gate shows: QF 10 takes all of the residual, QF 95 a quarter of it, an unknown quality none
    full, gated = irdi_restored["q95.jpg", False].astype(int), irdi_restored["q95.jpg", True].astype(int)
    image = irdi_restored["input"]["q95.jpg"].astype(int)
    assert (gated != full).any() and np.abs(gated - (image + (full - image) / 4)).max() <= 1
    assert (irdi_restored["q10.jpg", True] == irdi_restored["q10.jpg", False]).all()
    assert (irdi_restored["clean.png", True] == irdi_restored["input"]["clean.png"]).all()
    # quality may be left out of a TF Serving request: the SignatureDef's default, an unknown quality
    saved = saved_model_pb2.SavedModel.FromString((gated_export / "saved_model.pb").read_bytes())
    default = saved.meta_graphs[0].signature_def["restore"].defaults["quality"]
    assert tf.make_ndarray(default) == UNKNOWN_QUALITY and default.dtype == tf.int32.as_datatype_enum
    info = json.loads((gated_export / "assets.extra" / "irdi.json").read_text())
    assert info["quality_gate"] == GATE


# TF Serving's loader, in a process that never imports keras_irdi; an input a request leaves out is fed its
# SignatureDef default, as TF Serving's saved_model::GetInputValues does.
SESSION_LOADER = r"""
import sys
import numpy as np
import tensorflow as tf

export_dir, requests_path, out_path = sys.argv[1:4]
requests = np.load(requests_path, allow_pickle=True)
tf.compat.v1.disable_eager_execution()
with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
    sig = meta.signature_def["restore"]
    out = []
    for request in requests:
        feed = {alias: request.get(alias, tf.make_ndarray(sig.defaults[alias]) if alias in sig.defaults else None)
                for alias in sig.inputs}
        out.append(sess.run(sig.outputs["restored"].name, {sig.inputs[k].name: v for k, v in feed.items()}))
np.save(out_path, np.array(out, dtype=object), allow_pickle=True)
"""


@pytest.mark.slow
def test_restore_signature_runs_in_the_session_loader(gated_run, gated_export, client_files, irdi_restored,
                                                      tmp_path):
    tall = noisy_image(530, 47, seed=9)  # two tile rows at the default tile of 512
    Image.fromarray(tall).save(tmp_path / "tall.png")
    expected = np.asarray(Image.open(restore_files(gated_run, [str(tmp_path / "tall.png")], tmp_path / "out",
                                                   report=lambda _: 0, quality=50)[0]["output"]))
    requests = [{"image": tall, "quality": np.int32(50)}]
    for name in ("q10.jpg", "q95.jpg", "q50_pixels.png"):
        requests.append({"image": irdi_restored["input"][name], "quality": np.int32(client_files[name][1])})
    requests.append({"image": irdi_restored["input"]["clean.png"]})  # no quality: the default
    np.save(tmp_path / "requests.npy", np.array(requests, dtype=object), allow_pickle=True)
    (tmp_path / "load.py").write_text(SESSION_LOADER)
    proc = subprocess.run([sys.executable, str(tmp_path / "load.py"), str(gated_export), str(tmp_path / "requests.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npy", allow_pickle=True)
    assert (out[0] == expected).all() and (expected != tall).any()
    for got, name in zip(out[1:], ("q10.jpg", "q95.jpg", "q50_pixels.png", "clean.png")):
        assert (got == irdi_restored[name, True]).all(), name


MEMORY_WRAPPER = r"""
import sys
from keras_irdi.serving.restore import main
code = main(sys.argv[1:])
# VmHWM: this process's own peak RSS (getrusage's ru_maxrss would include the parent's, inherited by fork)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print("MAXRSS_KB", hwm, "EXIT", code)
"""


@pytest.mark.slow
def test_large_photo_within_the_memory_budget(tiny_run, tmp_path):
    """6000x4000 in a fresh process: the peak RSS stays under 2 GB (the shipped run's figure, with its
    32-filter net, is in bench/results/restore_memory.json)."""
    y, x = np.mgrid[0:4000, 0:6000]
    image = np.stack([(x // 7) % 256, (y // 5) % 256, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "big.jpg", quality=60)
    del image, x, y
    proc = subprocess.run([sys.executable, "-c", MEMORY_WRAPPER, str(tiny_run), str(tmp_path / "big.jpg"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    line = next((text for text in proc.stdout.splitlines() if text.startswith("MAXRSS_KB")), None)
    assert line is not None and line.endswith("EXIT 0"), proc.stderr[-2000:]
    assert int(line.split()[1]) / 1024 <= 2048, line
    with Image.open(tmp_path / "out" / "big.png") as restored:
        assert restored.size == (6000, 4000)


def test_cli_applies_the_share_of_the_image_s_quality(gated_run, random_net, clean_dir, tmp_path, capsys,
                                                     restore_signals):
    photo = np.asarray(Image.open(sorted(clean_dir.iterdir())[0]).convert("RGB"))[:96, :128]
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photo).save(folder / "clean.png")
    for q in (10, 50):
        Image.fromarray(photo).save(folder / f"q{q}.jpg", quality=q)
    decoded = {q: np.asarray(Image.open(folder / f"q{q}.jpg").convert("RGB")) for q in (10, 50)}
    Image.fromarray(decoded[50]).save(folder / "q50_pixels.png")  # the same pixels, no tables to read
    Image.fromarray(decoded[10]).save(folder / "q10_resaved.jpg", quality=90)  # shows QF 10 under QF 90 tables
    Image.fromarray(decoded[10]).save(folder / "q10_at50.jpg", quality=RESAVE_ABOVE)  # a low file: its own
    out = tmp_path / "out"
    names = ("clean.png", "q10.jpg", "q50.jpg", "q50_pixels.png", "q10_resaved.jpg", "q10_at50.jpg")
    assert main([str(gated_run), *(str(folder / n) for n in names), "--out", str(out)]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[0].endswith("no JPEG quality found, share of the residual 0.00)")
    assert report[1].endswith("JPEG quality 10 (file), share of the residual 1.00)")
    assert report[2].endswith("JPEG quality 50 (file), share of the residual 0.50)")
    assert report[3].endswith("JPEG quality 50 (pixels), share of the residual 0.50)")
    assert report[4].endswith("saved again from an earlier JPEG of quality 10, share of the residual 0.00)")
    assert report[5].endswith(f"JPEG quality {RESAVE_ABOVE} (file), share of the residual 0.50)")
    result = {n: np.asarray(Image.open(out / (Path(n).stem + ".png"))).astype(int) for n in names}

    def full(image):  # the whole residual, as --full writes it
        return restored(random_net, image).astype(np.uint8)

    assert (result["clean.png"] == photo).all()  # never compressed: written as it was read
    resaved = np.asarray(Image.open(folder / "q10_resaved.jpg").convert("RGB"))
    assert (result["q10_resaved.jpg"] == resaved).all()
    assert (result["q10.jpg"] == full(decoded[10])).all()  # the whole residual
    half = (decoded[50].astype(int) + full(decoded[50]).astype(int)) / 2
    assert np.abs(result["q50.jpg"] - half).max() <= 1  # half of it (each image rounded once)
    assert (result["q50.jpg"] != decoded[50]).any() and (result["q50.jpg"] != full(decoded[50])).any()
    assert (result["q50_pixels.png"] == result["q50.jpg"]).all()
    # --full and --quality override the gate.
    for option, expected in ((["--full"], full(photo)), (["--quality", "10"], full(photo)),
                             (["--quality", "100"], photo)):
        assert main([str(gated_run), str(folder / "clean.png"), "--out", str(tmp_path / "o"), "--overwrite",
                     *option]) == 0
        assert (np.asarray(Image.open(tmp_path / "o" / "clean.png")) == expected).all(), option


def test_cli_quality_options_are_checked(gated_run, tmp_path, capsys, restore_signals):
    image = tmp_path / "x.png"
    Image.fromarray(noisy_image(16, 16)).save(image)
    for option in (["--quality", "0"], ["--quality", "101"], ["--quality", "50", "--full"]):
        with pytest.raises(SystemExit) as exc:
            main([str(gated_run), str(image), "--out", str(tmp_path / "o"), *option])
        assert exc.value.code == 2
    assert "--quality must be 1..100" in capsys.readouterr().err
