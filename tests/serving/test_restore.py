"""keras_irdi.serving.restore: tiled native-resolution restoration (tiled == untiled), irdi-restore, and the
export's restore signature (in process and in TF Serving's session loader)."""
import os
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
from keras_irdi.serving.restore import TiledRestorer, main, receptive_radius, restore_graph, tile_windows
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


def test_receptive_radius_is_the_dilated_body_s():
    assert receptive_radius(build_restoration_net(4)) == 16  # 33x33: dilations 1,2,3,4,3,2,1


def test_tile_cores_cover_the_image_once():
    seen = np.zeros((101, 67), int)
    for (top, bottom, left, right), (wt, wb, wl, wr) in tile_windows(101, 67, 32, 16):
        seen[top:bottom, left:right] += 1
        assert wt == max(top - 16, 0) and wb == min(bottom + 16, 101) and wl == max(left - 16, 0)
    assert (seen == 1).all()


def test_tiled_equals_untiled(random_net):
    image = noisy_image()
    restorer = TiledRestorer(random_net, tile=40)
    tiled, whole = restorer.restore_float(image), restorer.restore_float(image, tile=0)
    assert np.abs(tiled - whole).max() < 1e-4 and np.abs(whole - image / 255.0).max() > 0.05  # not the identity
    clean = noisy_image(seed=1)
    assert abs(cpsnr(clean, tiled * 255) - cpsnr(clean, whole * 255)) <= 0.01
    assert np.abs(restorer(image).astype(int) - restorer(image, tile=0)).max() <= 1
    # too small a margin shows at the seams: the margin is what makes them agree
    seams = TiledRestorer(random_net, tile=40, margin=4).restore_float(image)
    assert np.abs(seams - whole).max() > 1e-3


def test_graph_tiling_matches_the_numpy_one(random_net):
    import tensorflow as tf

    image = noisy_image(97, 130, seed=4)
    graph = tf.function(lambda x: restore_graph(random_net, x, 40, 16), autograph=False)(image).numpy()
    assert graph.shape == image.shape and graph.dtype == np.uint8
    assert np.abs(graph.astype(int) - TiledRestorer(random_net, tile=40)(image)).max() <= 1


@pytest.mark.skipif(not (SHARED / "clean" / "BSD100").is_dir(), reason="no development data folder")
def test_shipped_net_on_a_photo_tiled_equals_untiled():
    import io

    from keras_irdi.data.images import load_image

    clean = load_image(sorted((SHARED / "clean" / "BSD100").iterdir())[0])
    buf = io.BytesIO()
    Image.fromarray(clean).save(buf, "JPEG", quality=20)
    degraded = np.asarray(Image.open(buf).convert("RGB"))
    restorer = TiledRestorer(RunDir(SHIPPED_JPEG).load_stage("restoration"), tile=128)
    tiled, whole = restorer(degraded), restorer(degraded, tile=0)
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
    assert (np.asarray(Image.open(whole / "photo.png")) == np.asarray(Image.open(out / "photo.png"))).all()


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


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    from keras_irdi.serving.export import export_serving

    return export_serving(tiny_run, tmp_path_factory.mktemp("restore_export"), "proposed")


@pytest.mark.slow  # the export takes ~10 s; test_export's layout test checks the signature is there
def test_export_has_a_restore_signature(tiny_run, exported):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported))
    assert {"serving_default", "serve_bytes", "restore"} <= set(loaded.signatures)
    image = noisy_image(50, 37)
    out = loaded.signatures["restore"](image=tf.constant(image))["restored"].numpy()
    reference = TiledRestorer(RunDir(tiny_run).load_stage("restoration"))(image)
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - reference).max() <= 1


SESSION_LOADER = r"""
import sys
import numpy as np
import tensorflow as tf

export_dir, image_path, out_path = sys.argv[1:4]
tf.compat.v1.disable_eager_execution()
with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
    sig = meta.signature_def["restore"]
    out = sess.run(sig.outputs["restored"].name, {sig.inputs["image"].name: np.load(image_path)})
np.save(out_path, out)
"""


@pytest.mark.slow
def test_restore_signature_runs_in_the_session_loader(tiny_run, exported, tmp_path):
    image = noisy_image(530, 47, seed=9)  # two tile rows at the default tile of 512
    np.save(tmp_path / "x.npy", image)
    (tmp_path / "load.py").write_text(SESSION_LOADER)
    proc = subprocess.run([sys.executable, str(tmp_path / "load.py"), str(exported), str(tmp_path / "x.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npy")
    reference = TiledRestorer(RunDir(tiny_run).load_stage("restoration"))(image)
    assert out.shape == image.shape and np.abs(out.astype(int) - reference).max() <= 1


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
    line = next((l for l in proc.stdout.splitlines() if l.startswith("MAXRSS_KB")), None)
    assert line is not None and line.endswith("EXIT 0"), proc.stderr[-2000:]
    assert int(line.split()[1]) / 1024 <= 2048, line
    with Image.open(tmp_path / "out" / "big.png") as restored:
        assert restored.size == (6000, 4000)


@pytest.fixture
def gated_run(tiny_run, random_net, tmp_path):
    """The tiny run with a restoration net that changes its input, and a quality gate: all of the residual at
    QF 10, half at QF 50, none at QF 100."""
    import shutil

    run_dir = tmp_path / "gated"
    shutil.copytree(tiny_run, run_dir)
    RunDir(run_dir).save_stage("restoration", random_net, config={}, export=False,
                               extra_json={"quality_gate.json": {"10": 1.0, "50": 0.5, "100": 0.0}})
    return run_dir


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
    full = TiledRestorer(random_net)
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
        assert main([str(gated_run), str(folder / "clean.png"), "--out", str(tmp_path / "o"), *option]) == 0
        assert (np.asarray(Image.open(tmp_path / "o" / "clean.png")) == expected).all(), option


def test_cli_quality_options_are_checked(gated_run, tmp_path, capsys, restore_signals):
    image = tmp_path / "x.png"
    Image.fromarray(noisy_image(16, 16)).save(image)
    for option in (["--quality", "0"], ["--quality", "101"], ["--quality", "50", "--full"]):
        with pytest.raises(SystemExit) as exc:
            main([str(gated_run), str(image), "--out", str(tmp_path / "o"), *option])
        assert exc.value.code == 2
    assert "--quality must be 1..100" in capsys.readouterr().err
