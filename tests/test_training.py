"""The training stages and the train/ CLIs: end to end on real data, determinism, options and their errors,
resuming after a crash, a kill or a cut checkpoint, and failing before any work when the run dir is unwritable."""
import csv
import errno
import importlib.util
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_irdi.training as training
from keras_irdi import artifacts
from keras_irdi.artifacts import BASE_STAGE, STAGES, RunDir
from keras_irdi.errors import main_wrapper
from keras_irdi.presets import StageConfig, get_preset
from keras_irdi.fitting import fit_stage
from keras_irdi.runs import RunConfig, RuntimeConfig, open_run
from keras_irdi.models.composites import proposed_tail
from keras_irdi.training import ensemble_inputs, expected_stage_config, train_classifier
from helpers import REPO, random_stages, run_script as cli, tiny_model


def _check_stage_outputs(stage, model, num_classes):
    """A loaded stage must compute what the composites feed on: its output's shape and range."""
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)  # stages see [0, 1] pixels
    if stage == "weight_net":  # an estimated level in, two convex weights out
        out = np.asarray(model(np.array([[0.1], [0.9]], np.float32)))
        assert out.shape == (2, 2) and np.allclose(out.sum(axis=1), 1, atol=1e-5), (stage, out)
    elif stage == "restoration":  # an image of the same size, clipped to [0, 1]
        out = np.asarray(model(images))
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1, stage
    elif stage == "estimator":  # one level per image
        out = np.asarray(model(images))
        assert out.shape == (2, 1), (stage, out.shape)
    else:  # a classifier: class probabilities
        out = np.asarray(model(images))
        assert out.shape == (2, num_classes) and np.allclose(out.sum(axis=1), 1, atol=1e-5), (stage, out)
    assert np.all(np.isfinite(out)), stage


def test_smoke_end_to_end(smoke_run):
    run, proc = smoke_run
    rd = RunDir(run)
    manifest = rd.manifest()
    for stage in STAGES:
        d = rd.stage_dir(stage)
        assert (d / "model.keras").is_file() and (d / "savedmodel" / "saved_model.pb").is_file()
        assert json.loads((d / "config.json").read_text())["stage"] == stage
        _check_stage_outputs(stage, rd.load_stage(stage), len(manifest["class_names"]))
        assert (run / "logs" / f"{stage}.csv").is_file()
    assert not list(run.glob("*.tmp")), "half-written stage left behind"
    assert manifest["config"]["preset"]["name"] == "smoke"
    assert set(manifest["stages"]) == set(STAGES) | {BASE_STAGE}  # smoke warm-starts: a base is trained
    assert rd.has_stage(BASE_STAGE) and not (rd.stage_dir(BASE_STAGE) / "savedmodel").exists()
    assert all(s["seconds"] > 0 and s["peak_rss_mb"] > 0 for s in manifest["stages"].values())
    # The run's cost is counted stage by stage (so reuse and re-evaluation keep it), plus the sweep.
    train_seconds = sum(s["seconds"] for s in manifest["stages"].values())
    assert manifest["training_seconds"] == pytest.approx(train_seconds, abs=0.2)
    # total = training + the sweep train/all.py ran (other tests re-sweep this run later, so not read back here)
    sweep = manifest["total_seconds"] - manifest["training_seconds"]
    assert 0 < sweep < manifest["command_seconds"]
    assert manifest["command_seconds"] >= manifest["command_training_seconds"] > 0
    assert len(manifest["data"]["cifar_sha256"]) == 64 and manifest["versions"]["tensorflow"]
    # One summary line per stage, then the evaluation.
    for stage in STAGES:
        assert f"[{stage}] done in" in proc.stdout
    rows = list(csv.DictReader(open(run / "eval" / "jpeg_cifar10.csv")))
    proposed = np.mean([float(r["acc_proposed"]) for r in rows])
    assert proposed > 0.15, f"Proposed at chance level: {proposed}"
    assert (run / "tables" / "SUMMARY.md").is_file()
    assert (run / "figures" / "accuracy_jpeg_cifar10.png").stat().st_size > 10_000


def test_all_skips_finished_stages(smoke_run, cifar_dir, clean_dir):
    run, _ = smoke_run
    proc = cli("train/all.py", "--run-dir", run, "--cifar-dir", cifar_dir, "--clean-dir", clean_dir, "--no-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("up to date, skipped") == len(STAGES) + 1  # and the warm-start base


def _tiny_config(cifar_dir, epochs=3):
    preset = get_preset("smoke")
    preset.data.train_limit, preset.finetune = 300, None  # Cla(org) from scratch, no base
    preset.classifier.train.epochs = epochs
    return RunConfig(degradation="jpeg", preset=preset, seed=3, runtime=RuntimeConfig(cifar_dir=str(cifar_dir)))


class FailAt(keras.callbacks.Callback):
    """Simulates a kill mid-epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError("killed")


def test_interrupted_stage_resumes_losing_at_most_one_epoch(tmp_path, cifar_dir):
    run, config = open_run(tmp_path / "run", _tiny_config(cifar_dir))
    with pytest.raises(RuntimeError, match="killed"):
        train_classifier(run, config, "clean", callbacks=[FailAt(epoch=2, batch=3)])
    assert not run.has_stage("cla_org"), "an interrupted stage must not look finished"
    assert run.backup_dir("cla_org").exists()
    train_classifier(run, config, "clean")
    assert run.has_stage("cla_org")
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(run.log_dir() / "cla_org.csv"))]
    # Epochs 0 and 1 completed before the kill and are not repeated; epoch 2 is redone.
    assert epochs == [0, 1, 2], epochs
    assert not run.backup_dir("cla_org").exists()


def test_same_seed_same_metrics(tmp_path, cifar_dir):
    results = []
    for name in ("a", "b"):
        run, config = open_run(tmp_path / name, _tiny_config(cifar_dir, epochs=1))
        results.append(train_classifier(run, config, "clean")["metrics"])
    assert {"loss", "accuracy"} <= set(results[0])  # two empty dicts would be equal too
    assert results[0] == results[1]


def test_weight_net_training_on_cached_outputs_equals_training_inside_proposed():
    from keras_irdi.models.composites import build_composite

    stages = random_stages(classifier_filters=(4, 4, 4), classifier_dense=4, classifier_dropout=0.0)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    y = np.arange(8) % 10
    loss = keras.losses.SparseCategoricalCrossentropy()
    proposed = build_composite("proposed", stages, "jpeg")
    cached = ensemble_inputs(stages, x)
    tail = proposed_tail(stages["weight_net"])
    with tf.GradientTape(persistent=True) as tape:
        full = loss(y, proposed(x.astype(np.float32))["probabilities"])
        short = loss(y, tail([cached["level"], cached["p_org"], cached["p_res"]]))
    np.testing.assert_allclose(float(full), float(short), rtol=1e-5)
    for a, b in zip(tape.gradient(full, stages["weight_net"].trainable_weights),
                    tape.gradient(short, stages["weight_net"].trainable_weights)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


# -- CLI errors: one line, exit 2, says what to do ----------------------------------------------
def test_missing_prerequisite_names_the_command(tmp_path, cifar_dir):
    proc = cli("train/classifier.py", "--data", "restored", "--run-dir", tmp_path / "r", "--preset", "smoke",
               "--cifar-dir", cifar_dir)
    assert proc.returncode == 2
    assert "python train/restoration.py" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("train/ensemble.py", "--run-dir", tmp_path / "r")
    assert proc.returncode == 2 and "python train/estimator.py" in proc.stderr


def test_no_data_and_no_network_says_how_to_point_at_a_copy(tmp_path):
    proc = cli("train/classifier.py", "--data", "clean", "--run-dir", tmp_path / "r", "--preset", "smoke",
               "--cifar-dir", tmp_path / "nowhere")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nowhere" in proc.stderr


@pytest.mark.parametrize("args,expected", [
    (["--preset", "smal"], "invalid choice: 'smal'"),
    (["--degradation", "motion"], "invalid choice: 'motion'"),
    (["--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["--data", "noisy"], "invalid choice: 'noisy'"),
])
def test_bad_options_list_the_choices(tmp_path, args, expected):
    base = ["--run-dir", tmp_path / "r"] + ([] if "--data" in args else ["--data", "clean"])
    proc = cli("train/classifier.py", *base, *args)
    assert proc.returncode == 2 and expected in proc.stderr and "choose from" in proc.stderr


def test_unwritable_run_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("train/restoration.py", "--run-dir", blocker / "run", "--preset", "smoke")
    assert proc.returncode == 2 and "not writable" in proc.stderr and "Traceback" not in proc.stderr


def test_run_options_cannot_change_under_an_existing_run(smoke_run):
    run, _ = smoke_run
    proc = cli("train/classifier.py", "--data", "clean", "--run-dir", run, "--degradation", "gaussian")
    assert proc.returncode == 2 and "was created with degradation" in proc.stderr


def test_restoration_gain_ignores_untouched_patches():
    """Gaussian noise at sigma ~ 0 leaves patches identical (infinite PSNR); the gain must stay finite."""
    import keras
    import tensorflow as tf
    from keras_irdi.training import _restoration_gain

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (8, 16, 16, 3)).astype(np.float32) / 255
    noisy = clean.copy()
    noisy[4:] = np.clip(np.round((clean[4:] * 255 + rng.normal(0, 10, clean[4:].shape))), 0, 255) / 255
    identity = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Identity()])
    ds = tf.data.Dataset.from_tensor_slices((noisy, clean)).batch(3)
    gain = _restoration_gain(identity, ds)
    assert np.isfinite(gain["val_psnr_degraded"]) and gain["val_psnr_patches"] == 4
    assert 20 < gain["val_psnr_degraded"] < 35
    assert gain["val_psnr_restored"] == pytest.approx(gain["val_psnr_degraded"])


def test_bad_path_fails_before_any_work_and_leaves_no_run(tmp_path):
    proc = cli("train/all.py", "--preset", "smoke", "--run-dir", tmp_path / "R", "--clean-dir", tmp_path / "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "R").exists(), "a command that failed validation must leave no run behind"
    proc = cli("train/all.py", "--preset", "smoke", "--run-dir", tmp_path / "R", "--cifar-dir", tmp_path / "none")
    assert proc.returncode == 2 and not (tmp_path / "R").exists()


def test_bad_path_leaves_an_existing_run_untouched(smoke_run, tmp_path):
    run, _ = smoke_run
    before = (run / "manifest.json").read_bytes()
    proc = cli("train/all.py", "--run-dir", run, "--preset", "smoke", "--clean-dir", tmp_path / "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr
    assert (run / "manifest.json").read_bytes() == before


def test_manifest_records_epoch_seconds_and_load(smoke_run):
    run, proc = smoke_run
    stages = RunDir(run).manifest()["stages"]
    cla = stages["cla_base"]
    assert len(cla["epoch_seconds"]) == len(cla["load_avg_1min"]) == get_preset("smoke").classifier.train.epochs
    assert all(s > 0 for s in cla["epoch_seconds"]) and sum(cla["epoch_seconds"]) <= cla["seconds"]
    assert "[cla_org] epoch 1:" in proc.stdout and "load average" in proc.stdout


# -- the training CLIs' options -----------------------------------------------------------------------
@pytest.mark.parametrize("script", ["train/restoration.py", "train/estimator.py", "train/ensemble.py",
                                    "train/all.py"])
@pytest.mark.parametrize("option, value", [("--preset", "smal"), ("--degradation", "motion"),
                                           ("--dataset", "mnist"), ("--strategy", "tpu")])
def test_train_clis_list_the_choices(tmp_path, script, option, value):
    proc = cli(script, "--run-dir", tmp_path / "r", option, value, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert f"invalid choice: '{value}'" in proc.stderr and "choose from" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_train_cli_bad_numbers(tmp_path):
    proc = cli("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "ten", timeout=120)
    assert proc.returncode == 2 and "--epochs: must be a whole number >= 1, got 'ten'" in proc.stderr
    proc = cli("train/all.py", "--run-dir", tmp_path / "r", "--epochs", "3", timeout=120)
    assert proc.returncode == 2 and "unrecognized arguments: --epochs" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "0", timeout=300)
    assert proc.returncode == 2 and "--epochs: must be a whole number >= 1, got '0'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_run_config_names_list_the_choices():
    """The API says the valid names too (the preset's and load_cifar's: test_recipe.py, test_cifar.py)."""
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose one of: cifar10, cifar100"):
        RunConfig(dataset="mnist").validate()
    with pytest.raises(ValueError, match="unknown degradation 'motion'; choose one of: jpeg, gaussian, blur"):
        RunConfig(degradation="motion").validate()


# -- interrupted training: resume, checkpoints cut by a kill, SIGTERM --------------------------------
def _fit_tiny(run, epochs, callbacks=()):
    """Fit a one-layer stage "tiny" through fit_stage; return the epochs its CSV log lists, in order."""
    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    model = tiny_model()
    fit_stage(run, "tiny", model, lambda e: ds.repeat(e[1] - e[0]), ds, StageConfig(epochs=epochs, batch_size=16),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              extra_callbacks=callbacks)
    return [int(r["epoch"]) for r in csv.DictReader(open(run.log_dir() / "tiny.csv"))]


def _fit_tiny_interrupted(run, epochs, after_epoch):
    """Fit the tiny stage and stop it with Ctrl-C at the end of ``after_epoch`` (checkpoints written)."""
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == after_epoch:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit_tiny(run, epochs, [Interrupt()])


def test_checkpoint_cut_by_a_kill_does_not_block_the_rerun(tmp_path, caplog):
    """The latest checkpoint is cut: the rerun falls back to the previous one (end of epoch 0), losing one
    more epoch, not the stage. The log tells the cases apart: a restart would read 0, 1, 0, 1, 2, 3."""
    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 4, after_epoch=1)
    weights = run.backup_dir("tiny") / "latest.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # what a kill in the middle of save_weights leaves
    with caplog.at_level(logging.WARNING, logger="keras_irdi"):
        epochs = _fit_tiny(run, 4)
    assert epochs == [0, 1, 1, 2, 3], epochs  # epoch 1 redone from the previous checkpoint
    assert "restarting this stage from epoch 0" not in caplog.text


def test_unreadable_single_checkpoint_restarts_the_stage(tmp_path, caplog):
    """No good copy left at all: the stage restarts from epoch 0 (warned) instead of failing forever.
    A resume would log 0, 1, 2; the restart logs epoch 0 twice."""
    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 3, after_epoch=0)
    backup = run.backup_dir("tiny")
    for f in backup.glob("*.h5*"):
        f.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="keras_irdi"):
        epochs = _fit_tiny(run, 3)
    assert epochs == [0, 0, 1, 2], epochs
    assert "is unreadable" in caplog.text and "restarting this stage from epoch 0" in caplog.text


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
    assert sorted(p.name for p in stage.iterdir()) == ["config.json", "identity.json", "model.keras"]  # a base is not exported
    config = RunConfig.from_dict(run.manifest()["config"])
    assert json.loads((stage / "config.json").read_text()) == expected_stage_config(config, "cla_base")
    assert set(run.manifest()["stages"]["cla_base"]["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    probs = np.asarray(run.load_stage("cla_base")(np.zeros((2, 32, 32, 3), np.float32)))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path, cifar_dir):
    """SIGKILL in the middle of epoch 2, rerun: the stage ends with the same weights and metrics as a run
    that was never killed -- the replayed epoch sees the same shuffle order and augmentation (pipelines:
    every draw is a function of (seed, epoch, batch); dropout is reseeded per epoch)."""
    def cmd(run_dir):
        return [sys.executable, str(REPO / "train/classifier.py"), "--data", "clean", "--base", "--preset", "smoke",
                "--run-dir", str(run_dir), "--cifar-dir", str(cifar_dir), "--epochs", "2"]

    killed = tmp_path / "killed"
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
        try:
            rows = _poll_rows(killed / "logs" / "cla_base.csv", proc, timeout=600)
            assert rows == 1 and proc.poll() is None, (rows, (tmp_path / "err.txt").read_text()[-2000:])
            time.sleep(0.3)  # into epoch 2
            proc.kill()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not RunDir(killed).has_stage("cla_base")
    resumed = subprocess.run(cmd(killed), capture_output=True, text=True, cwd=REPO, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[cla_base] resuming from epoch 2" in resumed.stdout
    straight = subprocess.run(cmd(tmp_path / "straight"), capture_output=True, text=True, cwd=REPO, timeout=900)
    assert straight.returncode == 0, straight.stderr[-3000:]

    a, b = RunDir(killed).load_stage("cla_base"), RunDir(tmp_path / "straight").load_stage("cla_base")
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    ma = RunDir(killed).manifest()["stages"]["cla_base"]["metrics"]
    mb = RunDir(tmp_path / "straight").manifest()["stages"]["cla_base"]["metrics"]
    assert {k: round(v, 4) for k, v in ma.items()} == {k: round(v, 4) for k, v in mb.items()}


# -- unwritable run directory: fails before any training ----------------------------------------------
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


def test_run_dir_below_a_file_fails_before_training(tmp_path, monkeypatch, restore_signals, capsys):
    started = []
    monkeypatch.setattr(training, "train_classifier", lambda *a, **kw: started.append(a))
    (tmp_path / "file").write_text("a file, not a folder")
    code = main_wrapper(_load_script("classifier").main,
                        ["--run-dir", str(tmp_path / "file" / "run"), "--data", "clean", "--preset", "smoke"])
    assert code == 2 and "is not writable (Not a directory)" in capsys.readouterr().err
    assert not started
