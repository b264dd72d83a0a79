"""Reliability: bad inputs, bad options, interrupted training, numerical safety, unwritable run dirs.

docs/RELIABILITY.md lists every case of the issue, what the software does, and the test that proves it;
cases already tested elsewhere are referenced there, this file adds the others. Every model here is a tiny
random-weight one; the only training is the SIGTERM test's smoke classifier (a few seconds per epoch).
"""
import csv
import errno
import importlib.util
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi import degrade
from keras_irdi.data.images import load_image, load_image_folder
from keras_irdi.predict import main as predict_main
from keras_irdi.predict import parse_degrade

from helpers import REPO, run_script, steep_stages, tiny_model
from odd_images import CONVERTED, UNREADABLE, save_image

@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_load_image_converts_odd_files_to_uint8_rgb(odd_files, name):
    shape, check = CONVERTED[name]
    image = load_image(odd_files[name])
    assert image.dtype == np.uint8 and image.shape == shape
    assert check is None or check(image), image[:2, :2].tolist()


@pytest.mark.parametrize("name", UNREADABLE)
def test_load_image_unreadable_is_a_value_error_naming_the_file(odd_files, name):
    with pytest.raises(ValueError) as info:
        load_image(odd_files[name])
    message = str(info.value)
    assert message.startswith(f"{odd_files[name]}: not a readable image"), message
    assert "\n" not in message


def test_load_image_missing_file_names_it(odd_files):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(odd_files["missing"])


def test_decompression_bomb_refused_from_the_header_without_allocating(odd_files):
    """4e8 declared pixels (1.2 GB of RGB): refused at open, before any pixel buffer exists."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, a high-water mark
    start = time.time()
    with pytest.raises(ValueError, match=r"bomb\.png: .*too large.*400000000 pixels.*MAX_IMAGE_PIXELS"):
        load_image(odd_files["bomb"])
    assert time.time() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # < 200 MB more


def test_decompression_bomb_limits(tmp_path, monkeypatch):
    """Up to MAX_IMAGE_PIXELS: silent; up to twice that: PIL warns and the image loads; beyond: refused."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ok = save_image(tmp_path / "ok.png", np.zeros((10, 10, 3), np.uint8))
    warned = save_image(tmp_path / "warned.png", np.zeros((10, 15, 3), np.uint8))
    refused = save_image(tmp_path / "refused.png", np.zeros((10, 21, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(ok).shape == (10, 10, 3)
    with pytest.warns(Image.DecompressionBombWarning):
        assert load_image(warned).shape == (10, 15, 3)
    with pytest.raises(ValueError, match="refused.png: .*too large"):
        load_image(refused)
    # In a folder, the refused file is skipped with a warning like any unreadable one.
    with pytest.warns(UserWarning, match="skipping .*refused.png: .*too large"):
        assert len(load_image_folder(tmp_path)) == 2


def _mutations(seed_files: dict, n: int, seed: int):
    rng = np.random.default_rng(seed)
    names = sorted(seed_files)
    for i in range(n):
        name = names[i % len(names)]
        data = bytearray(seed_files[name])
        how = i % 4
        if how == 0:  # flip a few bytes anywhere
            for pos in rng.integers(0, len(data), rng.integers(1, 8)):
                data[pos] = rng.integers(0, 256)
        elif how == 1:  # truncate
            data = data[: rng.integers(0, len(data))]
        elif how == 2:  # garble the header, where sizes and modes are declared
            pos = rng.integers(0, min(len(data), 64))
            data[pos:pos + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        else:  # trailing garbage
            data += rng.integers(0, 256, rng.integers(1, 100), dtype=np.uint8).tobytes()
        yield name, bytes(data)


def test_fuzzed_files_load_or_raise_value_error(tmp_path):
    """Mutated PNG/JPEG/BMP/GIF/WEBP/TIFF files: a uint8 RGB array or a ValueError naming the file,
    nothing else (this found the decompression-bomb error escaping load_image unnamed)."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8))
    seeds = {}
    for fmt in ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"):
        buf = io.BytesIO()
        image.save(buf, fmt)
        seeds[fmt.lower()] = buf.getvalue()
    counts = {"ok": 0, "ValueError": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about odd but decodable files
        for i, (ext, data) in enumerate(_mutations(seeds, 1500, seed=20201025)):
            path = tmp_path / f"fuzz_{i % 7}.{ext}"
            path.write_bytes(data)
            try:
                out = load_image(path)
            except ValueError as err:
                assert str(err).startswith(f"{path}: not a readable image"), (i, str(err))
                counts["ValueError"] += 1
            else:
                assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, i
                counts["ok"] += 1
    assert counts["ok"] > 300 and counts["ValueError"] > 300, counts


def test_load_image_folder_with_every_odd_file(odd_files):
    folder = odd_files["rgb"].parent  # holds every file of the fixture (and a folder named like an image)
    with pytest.warns(UserWarning) as warned:
        images = load_image_folder(folder)
    skipped = sorted(str(w.message).split(":")[0].removeprefix("skipping ") for w in warned
                     if str(w.message).startswith("skipping "))
    expected = sorted(str(odd_files[n]) for n in UNREADABLE if n != "directory")  # folders are not listed
    assert skipped == expected
    assert len(images) == len(CONVERTED)
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images)


def test_load_image_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    (tmp_path / "sub.png").mkdir()  # a folder with an image extension is not an image
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.warns(UserWarning, match="broken.jpg"):
        with pytest.raises(ValueError, match=rf"{tmp_path.name}: no loadable images"):
            load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="image folder not found: .*nowhere"):
        load_image_folder([tmp_path / "nowhere", tmp_path])


# -- predict CLI --------------------------------------------------------------------------------------
PREDICT_ERRORS = {"corrupt": "not a readable image", "truncated_jpeg": "not a readable image",
                  "zero_byte": "not a readable image", "text_as_png": "not a readable image",
                  "bomb": "too large", "directory": "not a readable image", "missing": "no such file"}


def test_predict_cli_every_odd_file(tiny_run, odd_files, capsys):
    readable = sorted(CONVERTED)
    names = readable + sorted(PREDICT_ERRORS)
    code = predict_main([str(tiny_run), *(str(odd_files[n]) for n in names), "--json", "--top-k", "10"])
    captured = capsys.readouterr()
    assert code == 1  # some files unreadable; the others are still classified
    results = json.loads(captured.out)
    assert [r["file"] for r in results] == [str(odd_files[n]) for n in names]
    for name, r in zip(names, results):
        if name in PREDICT_ERRORS:
            assert r["error"].startswith(f"{odd_files[name]}: ") and PREDICT_ERRORS[name] in r["error"], r
            assert f"error: {r['error']}" in captured.err.splitlines()
        else:
            assert "error" not in r, r
            assert abs(sum(t["probability"] for t in r["top_k"]) - 1) < 1e-5  # all 10 classes
            assert np.isfinite(r["estimated_level"]) and abs(sum(r["weights"].values()) - 1) < 1e-5
    assert len(captured.err.splitlines()) == len(PREDICT_ERRORS)


def test_predict_cli_only_bad_files_subprocess(tiny_run, odd_files):
    """As a user runs it: one `error:` line per file, exit status 1, no Python/TensorFlow traceback."""
    bad = [odd_files[n] for n in ("zero_byte", "bomb", "missing", "truncated_jpeg")]
    proc = subprocess.run([sys.executable, "-m", "keras_irdi.predict", str(tiny_run), *map(str, bad)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[1] for e in errors] == [str(p) for p in bad]


# -- levels and options -------------------------------------------------------------------------------
def test_degrade_level_types():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(degrade(image, "jpeg", 50.0), degrade(image, "jpeg", 50))  # integral float
    np.testing.assert_array_equal(degrade(image, "jpeg", np.int16(50)), degrade(image, "jpeg", 50))
    assert degrade(image, "gaussian", 12.5, seed=0).dtype == np.uint8  # sigma is continuous
    for kind, level, match in (("jpeg", "50", "must be numbers"), ("jpeg", True, "must be numbers"),
                               ("jpeg", [], "must be numbers"), ("jpeg", 1e9, "1..100"),
                               ("jpeg", -0.5, "integer"), ("gaussian", np.inf, "finite"),
                               ("gaussian", -np.inf, "finite")):
        with pytest.raises(ValueError, match=match):
            degrade(image, kind, level)
    with pytest.raises(ValueError, match="0..50"):
        degrade(image, "gaussian", -1e-9)
    with pytest.raises(ValueError, match="unknown degradation 'JPEG'; choose one of: jpeg, gaussian"):
        degrade(image, "JPEG", 50)  # names are case-sensitive in the API (the predict CLI lower-cases)


def test_parse_degrade_accepts_and_normalises():
    assert parse_degrade("jpeg:50.0") == ("jpeg", 50)
    assert parse_degrade("GAUSSIAN:12.5") == ("gaussian", 12.5)
    assert parse_degrade("gaussian:0") == ("gaussian", 0.0)


@pytest.mark.parametrize("spec, expected", [
    ("gaussian:-1", "0..50"), ("gaussian:-0.1", "0..50"), ("gaussian:nan", "finite"),
    ("gaussian:inf", "finite"), ("jpeg:-5", "1..100"), ("jpeg:1e3", "1..100"), ("gaussian:", "KIND:LEVEL"),
    (":10", "KIND:LEVEL"), ("motion:3", "choose one of: jpeg, gaussian, blur")])
def test_predict_degrade_option_errors(tmp_path, capsys, spec, expected):
    with pytest.raises(SystemExit) as exc:
        predict_main([str(tmp_path), "x.png", "--degrade", spec])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and expected in err and "usage: irdi-predict" in err


def test_predict_model_option_lists_the_networks(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        predict_main([str(tmp_path), "x.png", "--model", "vgg"])
    assert exc.value.code == 2 and "invalid choice: 'vgg'" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["train/restoration.py", "train/estimator.py", "train/ensemble.py",
                                    "train/all.py"])
@pytest.mark.parametrize("option, value", [("--preset", "smal"), ("--degradation", "motion"),
                                           ("--dataset", "mnist"), ("--strategy", "tpu")])
def test_train_clis_list_the_choices(tmp_path, script, option, value):
    proc = run_script(script, "--run-dir", tmp_path / "r", option, value, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert f"invalid choice: '{value}'" in proc.stderr and "choose from" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_train_cli_bad_numbers(tmp_path):
    proc = run_script("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "ten", timeout=120)
    assert proc.returncode == 2 and "invalid int value: 'ten'" in proc.stderr
    proc = run_script("train/all.py", "--run-dir", tmp_path / "r", "--epochs", "3", timeout=120)
    assert proc.returncode == 2 and "unrecognized arguments: --epochs" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_script("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "0", timeout=300)
    assert proc.returncode == 2 and "--epochs must be >= 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_api_names_list_the_choices():
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.presets import get_preset
    from keras_irdi.training import RunConfig

    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose one of: cifar10, cifar100"):
        RunConfig(dataset="mnist").validate()
    with pytest.raises(ValueError, match="unknown degradation 'motion'; choose one of: jpeg, gaussian, blur"):
        RunConfig(degradation="motion").validate()
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; choose one of \['cifar10', 'cifar100'\]"):
        load_cifar("svhn")


# -- interrupted training, half-written artefacts ---------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_exit_130_with_the_resume_hint(signum, restore_signals, capsys):
    """Also when the shell started the job in the background with SIGINT ignored."""
    from keras_irdi.cli import main_wrapper

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reached = []

    def body(argv):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler interrupts this
        reached.append("after sleep")

    start = time.time()
    assert main_wrapper(body) == 130
    assert not reached and time.time() - start < 4
    assert "interrupted: rerun the same command to resume" in capsys.readouterr().err


def test_half_written_stage_is_never_taken_for_finished(tmp_path):
    import shutil

    from keras_irdi.artifacts import MissingStageError, RunDir

    run = RunDir(tmp_path / "run")
    run.save_stage("cla_org", tiny_model(), {"v": 1}, export=False)
    assert run.has_stage("cla_org") and run.has_stage("cla_org", {"v": 1}) and not run.has_stage("cla_org", {"v": 2})
    full = sorted(p.name for p in run.stage_dir("cla_org").iterdir())
    assert full == ["config.json", "model.keras"]

    def missing(stage):
        assert not run.has_stage(stage)
        with pytest.raises(MissingStageError, match=rf"{stage} not trained .*\n  python train/"):
            run.require(stage)

    # Killed while save_stage wrote <stage>.tmp: the complete-looking temp dir does not count.
    shutil.copytree(run.stage_dir("cla_org"), run.path / "cla_deg.tmp")
    missing("cla_deg")
    with pytest.raises(MissingStageError, match="python train/classifier.py --data degraded --run-dir"):
        run.load_stage("cla_deg")
    # A stage dir without config.json (or without the model) is incomplete.
    shutil.copytree(run.stage_dir("cla_org"), run.stage_dir("cla_res"))
    (run.stage_dir("cla_res") / "config.json").unlink()
    missing("cla_res")
    shutil.copytree(run.stage_dir("cla_org"), run.stage_dir("estimator"))
    (run.stage_dir("estimator") / "model.keras").unlink()
    missing("estimator")
    # Killed between moving the old stage aside and moving the new one in: only <stage>.old exists.
    os.replace(run.stage_dir("cla_org"), run.path / "cla_org.old")
    missing("cla_org")
    # The rerun's save cleans every leftover and ends complete.
    for stage in ("cla_org", "cla_deg", "cla_res", "estimator"):
        run.save_stage(stage, tiny_model(), {"v": 3}, export=False)
        assert run.has_stage(stage, {"v": 3})
        assert sorted(p.name for p in run.stage_dir(stage).iterdir()) == full
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob("*.old"))


def test_disk_full_while_saving_keeps_the_previous_stage(tmp_path, monkeypatch):
    import keras_irdi.artifacts as artifacts
    from keras_irdi.artifacts import RunDir

    run = RunDir(tmp_path / "run")
    run.save_stage("restoration", tiny_model(), {"v": 1}, export=False)

    def no_space(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(artifacts, "write_json", no_space)
    with pytest.raises(OSError, match="No space left"):
        run.save_stage("restoration", tiny_model(), {"v": 2}, export=False)
    monkeypatch.undo()
    assert run.has_stage("restoration", {"v": 1})  # the old, complete stage is untouched
    assert run.load_stage("restoration").name == "tiny"


def test_failed_json_write_leaves_no_temp_file(tmp_path, monkeypatch):
    import keras_irdi.artifacts as artifacts

    artifacts.write_json(tmp_path / "manifest.json", {"ok": 1})

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(artifacts.json, "dump", no_space)
    with pytest.raises(OSError, match="No space left"):
        artifacts.write_json(tmp_path / "manifest.json", {"ok": 2})
    monkeypatch.undo()
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"ok": 1}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_json_files_are_strict_json(tmp_path):
    """An undefined PSNR (identical images: inf) or a NaN metric is written as null, never as the
    Infinity/NaN tokens that strict readers reject."""
    import keras_irdi.artifacts as artifacts

    path = tmp_path / "eval.json"
    artifacts.write_json(path, {"psnr": float("inf"), "rows": [{"loss": float("nan"), "acc": 0.5}],
                                "levels": (1.0, -float("inf"))})
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict token {token}"))
    assert data == {"psnr": None, "rows": [{"loss": None, "acc": 0.5}], "levels": [1.0, None]}
    artifacts.write_json(path, {"f32": np.float32("nan"), "i64": np.int64(3), "arr": np.array([1.0, np.inf]),
                                "half": np.float32(0.5), "path": tmp_path})
    assert json.loads(path.read_text()) == {"f32": None, "i64": 3, "arr": [1.0, None], "half": 0.5,
                                            "path": str(tmp_path)}


def test_corrupt_manifest_is_a_one_line_error(tmp_path):
    """manifest.json is written atomically; if something else truncates it, the CLI stops cleanly."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"config": {"degrad')
    proc = run_script("train/restoration.py", "--run-dir", run, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_corrupt_manifest_error_names_the_file(tmp_path):
    from keras_irdi.artifacts import RunDir

    (tmp_path / "manifest.json").write_text('{"config": {"degrad')
    with pytest.raises(ValueError, match="manifest.json"):
        RunDir(tmp_path).manifest()


def _fit_tiny(run, epochs, callbacks=()):
    import keras
    import tensorflow as tf

    from keras_irdi.presets import StageConfig
    from keras_irdi.training import fit_stage

    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    model = tiny_model()
    fit_stage(run, "tiny", model, ds, ds, StageConfig(epochs=epochs, batch_size=16),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              extra_callbacks=callbacks)
    return [int(r["epoch"]) for r in csv.DictReader(open(run.log_dir() / "tiny.csv"))]


def _fit_tiny_interrupted(run, epochs, after_epoch):
    """Fit the tiny stage and stop it with Ctrl-C at the end of ``after_epoch`` (checkpoints written)."""
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == after_epoch:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit_tiny(run, epochs, [Interrupt()])


def test_checkpoint_cut_by_a_kill_does_not_block_the_rerun(tmp_path):
    from keras_irdi.artifacts import RunDir

    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 4, after_epoch=1)
    weights = run.backup_dir("tiny") / "latest.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # what a kill in the middle of save_weights leaves
    epochs = _fit_tiny(run, 4)  # must resume (from an older checkpoint, or restart the stage)
    assert epochs[-1] == 3


def _poll_rows(path: Path, proc, timeout: float) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists():
            rows = [r for r in csv.DictReader(open(path)) if r.get("epoch", "").strip()]
            if rows:
                return len(rows)
        time.sleep(0.2)
    return 0


def test_sigterm_mid_training_then_rerun_resumes(tmp_path, cifar_dir):
    """The issue's scenario with the real CLI: SIGTERM after the first epoch, exit 130, rerun resumes."""
    from keras_irdi.artifacts import RunDir
    from keras_irdi.training import RunConfig, expected_stage_config

    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "train/classifier.py"), "--data", "clean", "--base", "--preset", "smoke",
           "--run-dir", str(run_dir), "--cifar-dir", str(cifar_dir), "--epochs", "3"]
    log = run_dir / "logs" / "cla_base.csv"
    with open(tmp_path / "out1.txt", "w") as out, open(tmp_path / "err1.txt", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO)
        try:
            rows = _poll_rows(log, proc, timeout=600)
            assert rows >= 1 and proc.poll() is None, (rows, (tmp_path / "err1.txt").read_text()[-2000:])
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = (tmp_path / "err1.txt").read_text()
    assert code == 130, stderr[-2000:]
    assert "interrupted: rerun the same command" in stderr and "Traceback" not in stderr
    run = RunDir(run_dir)
    assert not run.has_stage("cla_base") and run.backup_dir("cla_base").exists()
    finished = [int(r["epoch"]) for r in csv.DictReader(open(log))]

    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(log))]
    # Every finished epoch is kept, none is repeated; only the interrupted one is redone.
    assert epochs == [0, 1, 2], (finished, epochs)
    assert epochs[:len(finished)] == finished
    assert all(f"Epoch {k + 1}/3" not in proc.stdout for k in finished)  # resumed, not restarted
    assert f"[cla_base] resuming from epoch {len(finished) + 1}" in proc.stdout
    # Same artefacts as an uninterrupted run.
    assert run.has_stage("cla_base") and not run.backup_dir("cla_base").exists()
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob("*.old"))
    stage = run.stage_dir("cla_base")
    assert sorted(p.name for p in stage.iterdir()) == ["config.json", "model.keras"]  # a base is not exported
    config = RunConfig.from_dict(run.manifest()["config"])
    assert json.loads((stage / "config.json").read_text()) == expected_stage_config(config, "cla_base")
    assert set(run.manifest()["stages"]["cla_base"]["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    probs = np.asarray(run.load_stage("cla_base")(np.zeros((2, 32, 32, 3), np.float32)))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


# -- numerical safety ---------------------------------------------------------------------------------
def _batch():
    rng = np.random.default_rng(0)
    return np.stack([np.zeros((32, 32, 3)), np.full((32, 32, 3), 255.0),
                     rng.integers(0, 256, (32, 32, 3)), rng.normal(128, 500, (32, 32, 3)),  # way outside 0..255
                     np.full((32, 32, 3), -1e6), np.full((32, 32, 3), 1e6)]).astype(np.float32)


def _check_outputs(out, n):
    probs, weights, level = (np.asarray(out[k]) for k in ("probabilities", "weights", "level"))
    assert probs.shape == (n, 10) and weights.shape == (n, 2) and level.shape == (n, 1)
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(weights)) and np.all(np.isfinite(level))
    assert np.all(weights >= 0) and np.all(weights <= 1)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-6)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    return weights


@pytest.mark.parametrize("degradation", ["jpeg", "gaussian"])
@pytest.mark.parametrize("level_bias", [None, -1e6, -50.0, 50.0, 1e6])
def test_proposed_outputs_stay_valid(degradation, level_bias):
    """All-0, all-255, noise and far-out-of-range pixels; estimated levels far outside the level range."""
    from keras_irdi.models.composites import build_composite

    model = build_composite("proposed", steep_stages(degradation, level_bias), degradation)
    _check_outputs(model(_batch()), len(_batch()))


def test_weight_net_extreme_levels_saturate_and_nan_propagates():
    """+-1e6, +-inf, float32 max: finite convex weights (tanh saturates). NaN is not hidden: it gives NaN
    weights, so a broken estimate cannot pass for a confident one (uint8 images cannot produce it)."""
    net = steep_stages("gaussian")["weight_net"]
    levels = np.array([[-np.inf], [-3.4e38], [-1e6], [-1.0], [0.0], [0.2], [1.0], [1e6], [3.4e38], [np.inf]],
                      np.float32)
    w = np.asarray(net(levels))
    assert np.all(np.isfinite(w)) and np.all((w >= 0) & (w <= 1))
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(w[0], w[2], atol=1e-6)  # saturated: -inf behaves like -1e6
    np.testing.assert_allclose(w[-1], w[-3], atol=1e-6)
    assert np.abs(w[2] - w[-3]).max() > 0.05  # and the two ends differ: the net does respond to the level
    assert np.all(np.isnan(np.asarray(net(np.array([[np.nan]], np.float32)))))


def test_nan_pixel_poisons_only_its_own_sample():
    from keras_irdi.models.composites import build_composite

    model = build_composite("proposed", steep_stages(), "jpeg")
    batch = _batch()
    batch[0, 3, 4, 1] = np.nan
    out = {k: np.asarray(v) for k, v in model(batch).items()}
    assert all(np.all(np.isnan(v[0])) for v in out.values())
    _check_outputs({k: v[1:] for k, v in out.items()}, len(batch) - 1)


def test_extreme_logits_still_sum_to_one():
    """A classifier with huge logits (an over-confident net): softmax is stable, no inf/NaN."""
    from keras_irdi.models.composites import build_composite

    stages = steep_stages()
    head = stages["cla_res"].layers[-1]
    head.bias.assign(np.linspace(-1e4, 1e4, head.bias.shape[0]).astype(np.float32))
    out = build_composite("proposed", stages, "jpeg")(_batch())
    _check_outputs(out, len(_batch()))


# -- unwritable run directory -----------------------------------------------------------------------------
def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", REPO / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FullDiskFile(io.BytesIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["open", "write"])
def test_disk_full_fails_before_training(tmp_path, monkeypatch, where, restore_signals, capsys):
    import keras_irdi.artifacts as artifacts
    import keras_irdi.training as training
    from keras_irdi.artifacts import RunDir
    from keras_irdi.cli import main_wrapper

    def full_open(path, mode="r", *args, **kwargs):
        if where == "open":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return _FullDiskFile()

    monkeypatch.setattr(artifacts, "open", full_open, raising=False)  # shadows the builtin in artifacts only
    with pytest.raises(PermissionError, match=r"run directory .* is not writable \(No space left on device\); "
                                              r"choose another --run-dir or free disk space"):
        RunDir(tmp_path / "a").ensure_writable()

    started = []
    monkeypatch.setattr(training, "train_restoration", lambda *a: started.append(a))
    code = main_wrapper(_load_script("restoration").main, ["--run-dir", str(tmp_path / "b"), "--preset", "smoke"])
    err = capsys.readouterr().err
    assert code == 2 and not started
    assert err.strip().splitlines() == [f"error: run directory {tmp_path / 'b'} is not writable (No space left "
                                        "on device); choose another --run-dir or free disk space"]
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_run_dir_below_a_file_fails_before_training(tmp_path, restore_signals, capsys):
    from keras_irdi.cli import main_wrapper

    (tmp_path / "file").write_text("a file, not a folder")
    code = main_wrapper(_load_script("classifier").main,
                        ["--run-dir", str(tmp_path / "file" / "run"), "--data", "clean", "--preset", "smoke"])
    assert code == 2 and "is not writable (Not a directory)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_run_dir_fails_before_training(tmp_path):
    from keras_irdi.artifacts import RunDir

    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable .*Permission denied"):
            RunDir(tmp_path / "ro").ensure_writable()
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_unreadable_single_checkpoint_restarts_the_stage(tmp_path):
    """No good copy left at all: the stage restarts from epoch 0 (warned) instead of failing forever."""
    from keras_irdi.artifacts import RunDir

    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 3, after_epoch=0)
    backup = run.backup_dir("tiny")
    for f in backup.glob("*.h5*"):
        f.write_bytes(b"garbage")
    epochs = _fit_tiny(run, 3)
    assert epochs[-3:] == [0, 1, 2]
