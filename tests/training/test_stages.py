"""keras_irdi.training.stages: end to end through train/all.py on real data, determinism, what each stage trains
with and records, reuse and warm start, resuming after a crash, SIGTERM or SIGKILL."""
import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_irdi.preset_sections import FinetuneConfig, Preset, StageConfig
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig, RuntimeConfig, open_run
from keras_irdi.runs.directory import RunDir
from keras_irdi.stage_registry import delivered_stages, get_stage, stage_names
from keras_irdi.training.stage_configs import expected_stage_config, training_stages
from keras_irdi.training.stages import reuse_stage, train_classifier
from helpers import REPO, paused_env, run_script as cli, wait_for_pause

BASE_STAGE = "cla_base"
FINETUNED_STAGES = stage_names(finetuned=True)


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


@pytest.mark.slow
def test_smoke_end_to_end(smoke_run):
    run, proc = smoke_run
    rd = RunDir(run)
    manifest = rd.manifest()
    for stage in delivered_stages():
        d = rd.stage_dir(stage)
        assert (d / "model.keras").is_file() and (d / "savedmodel" / "saved_model.pb").is_file()
        assert json.loads((d / "config.json").read_text())["stage"] == stage
        _check_stage_outputs(stage, rd.load_stage(stage), len(manifest["class_names"]))
        assert (run / "logs" / f"{stage}.csv").is_file()
    assert not list(run.glob("*.tmp")), "half-written stage left behind"
    assert manifest["config"]["preset"]["name"] == "smoke"
    assert set(manifest["stages"]) == set(delivered_stages()) | {BASE_STAGE}  # smoke warm-starts: a base is trained
    assert rd.has_stage(BASE_STAGE) and not (rd.stage_dir(BASE_STAGE) / "savedmodel").exists()
    assert all(s["seconds"] > 0 and s["peak_rss_mb"] > 0 for s in manifest["stages"].values())
    # The run's cost is counted stage by stage (so reuse and re-evaluation keep it), plus the sweep.
    train_seconds = sum(s["seconds"] for s in manifest["stages"].values())
    assert manifest["training_seconds"] == pytest.approx(train_seconds, abs=0.2)
    # total = training + the sweep train/all.py ran (other tests re-sweep this run later, so not read back here)
    sweep = manifest["total_seconds"] - manifest["training_seconds"]
    assert 0 < sweep < manifest["command_seconds"]
    assert manifest["command_seconds"] >= manifest["command_training_seconds"] > 0
    assert len(manifest["data"]["sha256"]) == 64 and manifest["versions"]["tensorflow"]
    # The JPEG restoration's quality gate: a share in [0, 1] at every tenth quality (smoke's step), and QF 100.
    gate = rd.quality_gate()
    assert sorted(gate) == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    assert all(0 <= a <= 1 for a in gate.values())
    assert manifest["stages"]["restoration"]["metrics"]["gate_share_qf10"] == gate[11]
    # One summary line per stage, then the evaluation.
    for stage in delivered_stages():
        assert f"[{stage}] done in" in proc.stdout
    rows = list(csv.DictReader(open(run / "eval" / "jpeg_cifar10.csv")))
    proposed = np.mean([float(r["acc_proposed"]) for r in rows])
    assert proposed > 0.15, f"Proposed at chance level: {proposed}"
    assert (run / "tables" / "SUMMARY.md").is_file()
    assert (run / "figures" / "accuracy_jpeg_cifar10.png").stat().st_size > 10_000


@pytest.mark.slow
def test_all_skips_finished_stages(smoke_run, cifar_dir, clean_dir):
    run, _ = smoke_run
    proc = cli("train/all.py", "--run-dir", run, "--cifar-dir", cifar_dir, "--clean-dir", clean_dir, "--no-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("up to date, skipped") == len(delivered_stages()) + 1  # and the warm-start base


@pytest.mark.slow
def test_weight_net_variant_on_a_trained_run_retrains_only_the_weight_net(smoke_run, tmp_path, capsys):
    """A preset that differs from the run's in its weight net alone (three members, held-out images) keeps
    every other stage, trains a net that mixes Cla(deg) too, and the sweep reports Cla(deg)'s weight."""
    import shutil

    from keras_irdi.evaluation.level_sweep import run_sweep
    from keras_irdi.training.stages import train_all

    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run[0], run_dir)
    rd = RunDir(run_dir)
    config = RunConfig.from_dict(rd.manifest()["config"])
    net = config.preset.weight_net
    net.members, net.train_split, net.levels_per_image = ("seq_org", "seq_res", "cla_deg"), "validation", 2
    run, config = open_run(run_dir, config)
    done = train_all(run, config)
    assert list(done) == ["weight_net"]
    from keras_irdi.models.weights import weight_net_members

    assert weight_net_members(run.load_stage("weight_net")) == ("seq_org", "seq_res", "cla_deg")
    # force: the smoke run's own sweep is fuller
    rows = run_sweep(run_dir, limit=40, levels=[5, 90], verbose=False, force=True)["rows"]
    for row in rows:
        assert row["w_org"] + row["w_res"] + row["w_deg"] == pytest.approx(1, abs=1e-5) and row["w_deg"] > 0


def _tiny_config(cifar_dir, epochs=3):
    preset = get_preset("smoke")
    preset.data.train_limit, preset.finetune = 300, None  # Cla(org) from scratch, no base
    preset.classifier.train.epochs = epochs
    return RunConfig(degradation="jpeg", preset=preset, seed=3, runtime=RuntimeConfig(data_dir=str(cifar_dir)))


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path, cifar_dir):
    results = []
    for name in ("a", "b"):
        run, config = open_run(tmp_path / name, _tiny_config(cifar_dir, epochs=1))
        results.append(train_classifier(run, config, "clean")["metrics"])
    assert {"loss", "accuracy"} <= set(results[0])  # two empty dicts would be equal too
    assert results[0] == results[1]


# -- a run's options and paths: fixed once the run exists --------------------------------------------
@pytest.mark.slow
def test_run_options_cannot_change_under_an_existing_run(smoke_run):
    run, _ = smoke_run
    proc = cli("train/classifier.py", "--data", "clean", "--run-dir", run, "--degradation", "gaussian")
    assert proc.returncode == 2 and "was created with degradation" in proc.stderr


def test_restoration_gain_ignores_untouched_patches():
    """Gaussian noise at sigma ~ 0 leaves patches identical (infinite PSNR); the gain must stay finite."""
    import keras
    import tensorflow as tf
    from keras_irdi.training.stages import _restoration_gain

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


@pytest.mark.slow
def test_bad_path_leaves_an_existing_run_untouched(smoke_run, tmp_path):
    run, _ = smoke_run
    before = (run / "manifest.json").read_bytes()
    proc = cli("train/all.py", "--run-dir", run, "--preset", "smoke", "--clean-dir", tmp_path / "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr
    assert (run / "manifest.json").read_bytes() == before


@pytest.mark.slow
def test_manifest_records_epoch_seconds_and_load(smoke_run):
    run, proc = smoke_run
    stages = RunDir(run).manifest()["stages"]
    cla = stages["cla_base"]
    assert len(cla["epoch_seconds"]) == len(cla["load_avg_1min"]) == get_preset("smoke").classifier.train.epochs
    assert all(s > 0 for s in cla["epoch_seconds"]) and sum(cla["epoch_seconds"]) <= cla["seconds"]
    assert "[cla_org] epoch 1:" in proc.stdout and "load average" in proc.stdout


# -- interrupted training through the CLI: SIGTERM, SIGKILL -----------------------------------------
# Each kill lands where the test says: the trainer runs with the test-only pause hook (helpers.paused_env),
# which stops it once batch 3 of epoch 2 is done, writes a marker file and sleeps until the signal comes.
@pytest.mark.slow
def test_sigterm_mid_training_then_rerun_resumes(tmp_path, cifar_dir):
    """The issue's scenario with the real CLI: SIGTERM in epoch 2 of 3, exit 130, rerun resumes."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "train/classifier.py"), "--data", "clean", "--base", "--preset", "smoke",
           "--run-dir", str(run_dir), "--cifar-dir", str(cifar_dir), "--epochs", "3"]
    log = run_dir / "logs" / "cla_base.csv"
    marker = tmp_path / "paused"
    with open(tmp_path / "out1.txt", "w") as out, open(tmp_path / "err1.txt", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env=paused_env(marker))
        try:
            wait_for_pause(marker, [proc], [tmp_path / "err1.txt"])
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
    assert finished == [0]  # stopped in epoch 2

    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(log))]
    # Every finished epoch is kept, none is repeated; only the interrupted one is redone.
    assert epochs == [0, 1, 2], (finished, epochs)
    assert "Epoch 1/3" not in proc.stdout  # resumed, not restarted
    assert "[cla_base] resuming from epoch 2" in proc.stdout
    # Same artefacts as an uninterrupted run.
    assert run.has_stage("cla_base") and not run.backup_dir("cla_base").exists()
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob("*.old"))
    stage = run.stage_dir("cla_base")
    # a base is not exported
    assert sorted(p.name for p in stage.iterdir()) == ["config.json", "identity.json", "model.keras"]
    config = RunConfig.from_dict(run.manifest()["config"])
    assert json.loads((stage / "config.json").read_text()) == expected_stage_config(config, "cla_base")
    assert set(run.manifest()["stages"]["cla_base"]["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    probs = np.asarray(run.load_stage("cla_base")(np.zeros((2, 32, 32, 3), np.float32)))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path, cifar_dir):
    """SIGKILL in the middle of epoch 2, rerun: the stage ends with the same weights and metrics as a run
    that was never killed -- the replayed epoch sees the same shuffle order and augmentation (pipelines:
    every draw is a function of (seed, epoch, batch); dropout is reseeded per epoch)."""
    def cmd(run_dir):
        return [sys.executable, str(REPO / "train/classifier.py"), "--data", "clean", "--base", "--preset", "smoke",
                "--run-dir", str(run_dir), "--cifar-dir", str(cifar_dir), "--epochs", "2"]

    killed, marker = tmp_path / "killed", tmp_path / "paused"
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                                env=paused_env(marker))
        try:
            wait_for_pause(marker, [proc], [tmp_path / "err.txt"])
            proc.kill()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Killed in epoch 2: epoch 1 is logged and checkpointed, the stage is not saved.
    assert [int(r["epoch"]) for r in csv.DictReader(open(killed / "logs" / "cla_base.csv"))] == [0]
    assert (RunDir(killed).backup_dir("cla_base") / "training_metadata.json").exists()
    assert not RunDir(killed).has_stage("cla_base")
    resumed = subprocess.run(cmd(killed) + ["--verbose"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[cla_base] resuming from epoch 2" in resumed.stdout, [
        line for line in (resumed.stdout + resumed.stderr).splitlines() if "NodeDef" not in line][:40]
    straight = subprocess.run(cmd(tmp_path / "straight"), capture_output=True, text=True, cwd=REPO, timeout=900)
    assert straight.returncode == 0, straight.stderr[-3000:]

    a, b = RunDir(killed).load_stage("cla_base"), RunDir(tmp_path / "straight").load_stage("cla_base")
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    ma = RunDir(killed).manifest()["stages"]["cla_base"]["metrics"]
    mb = RunDir(tmp_path / "straight").manifest()["stages"]["cla_base"]["metrics"]
    assert {k: round(v, 4) for k, v in ma.items()} == {k: round(v, 4) for k, v in mb.items()}


def test_pause_hook_is_off_unless_asked_and_stops_at_the_named_batch(tmp_path, monkeypatch):
    """The test-only hook behind the kill tests: no callback without IRDI_TEST_PAUSE_AT; with "2:3", nothing
    until batch 3 of epoch 2 is done, then the marker is written and the trainer sleeps (here: a sleep
    that raises, standing in for the kill)."""
    from keras_irdi.training import fitting

    monkeypatch.delenv(fitting.PAUSE_AT_ENV, raising=False)
    assert fitting._pause_point("cla_base") == []
    marker = tmp_path / "paused"
    monkeypatch.setenv(fitting.PAUSE_AT_ENV, "2:3")
    monkeypatch.setenv(fitting.PAUSE_MARKER_ENV, str(marker))
    (hook,) = fitting._pause_point("cla_base")

    def killed(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting.time, "sleep", killed)
    for epoch in range(2):
        hook.on_epoch_begin(epoch)
        for batch in range(5):
            if (epoch, batch) == (1, 2):
                with pytest.raises(KeyboardInterrupt):
                    hook.on_train_batch_end(batch)
                assert marker.read_text().split()[:3] == ["cla_base", "2", "3"]
                return
            hook.on_train_batch_end(batch)
            assert not marker.exists(), (epoch, batch)
    pytest.fail("never paused")


# -- the recipe: what each stage trains with and records, when a change retrains it, reuse, warm start ----
def test_psnr_cap_per_degradation_is_what_the_stage_trains_with_and_records():
    from keras_irdi.training.stages import RESTORATION

    def cap(config):
        return expected_stage_config(config, "restoration")["preset"]["restoration"]["psnr_cap_db"]

    assert {d: cap(RunConfig(degradation=d)) for d in ("jpeg", "gaussian", "blur")} == \
        {"jpeg": 30.0, "gaussian": 40.0, "blur": 30.0}
    loss = RESTORATION.loss(get_preset("small").for_degradation("gaussian").restoration)
    assert loss.cap_db == 40.0
    one_cap = RunConfig(degradation="jpeg")
    one_cap.preset.restoration.psnr_cap_db = 30.0  # the JPEG runs trained before caps per degradation
    assert expected_stage_config(one_cap, "restoration") == expected_stage_config(RunConfig(), "restoration")
    assert expected_stage_config(one_cap, "cla_res") == expected_stage_config(RunConfig(), "cla_res")
    missing = RunConfig(degradation="jpeg")  # a degradation the preset has no cap for: its "default", else first
    missing.preset.restoration.psnr_cap_db = {"gaussian": 40.0, "blur": 35.0}
    with pytest.warns(UserWarning, match="psnr_cap_db has no value for 'jpeg'; using its 'gaussian' one"):
        assert expected_stage_config(missing, "restoration")["preset"]["restoration"]["psnr_cap_db"] == 40.0
    missing.preset.restoration.psnr_cap_db = {"gaussian": 40.0, "default": 33.0}
    with pytest.warns(UserWarning, match="using its 'default' one"):
        assert expected_stage_config(missing, "restoration")["preset"]["restoration"]["psnr_cap_db"] == 33.0


def test_restoration_schedule_per_degradation_is_what_the_stage_trains_with_and_records():
    import dataclasses

    def epochs(config):
        return expected_stage_config(config, "restoration")["preset"]["restoration"]["train"]["epochs"]

    assert {d: epochs(RunConfig(degradation=d)) for d in ("jpeg", "gaussian", "blur")} == \
        {"jpeg": 6, "gaussian": 10, "blur": 6}
    one = RunConfig(degradation="jpeg")  # the JPEG runs trained before schedules per degradation
    one.preset.restoration.train = dataclasses.replace(get_preset("small").restoration.train["gaussian"], epochs=6)
    assert expected_stage_config(one, "cla_res") == expected_stage_config(RunConfig(), "cla_res")
    small = get_preset("small")
    assert Preset.from_dict(small.to_dict()) == small  # the manifest's dict reads back per degradation
    missing = RunConfig(degradation="blur")
    missing.preset.restoration.train = {"jpeg": small.restoration.train["jpeg"]}
    with pytest.warns(UserWarning, match="restoration.train has no value for 'blur'; using its 'jpeg' one"):
        assert epochs(missing) == 6


def test_a_new_degradation_is_one_entry(monkeypatch):
    """Registered in degradations.py alone, a degradation trains with every preset: its per-degradation values
    fall back (with a warning) to the preset's default."""
    import dataclasses

    from keras_irdi import degradations

    toy = dataclasses.replace(degradations.get_degradation("gaussian"), name="toy")
    monkeypatch.setitem(degradations.DEGRADATIONS, "toy", toy)
    config = RunConfig(degradation="toy", preset=get_preset("small_v1"))
    config.validate()
    with pytest.warns(UserWarning, match="has no value for 'toy'"):
        record = expected_stage_config(config, "cla_res")
    assert record["degradation"] == "toy" and record["input_restoration"]["preset"]["restoration"]["psnr_cap_db"]


def test_finetune_augmentation_applies_to_the_finetuned_classifiers_only():
    preset = get_preset("small")
    preset.finetune.augmentation = None
    assert preset.classifier_augmentation("cla_deg") == preset.classifier_augmentation("cla_base") == "flip_shift"
    preset.finetune.augmentation = "flip"
    assert [preset.classifier_augmentation(s) for s in ("cla_base", *FINETUNED_STAGES)] == [
        "flip_shift", "flip", "flip", "flip"]
    preset.finetune.augmentation = {"cla_org": "flip_small_shift", "cla_deg": None, "cla_res": "flip"}
    assert [preset.classifier_augmentation(s) for s in ("cla_base", *FINETUNED_STAGES)] == [
        "flip_shift", "flip_small_shift", "flip_shift", "flip"]
    assert get_preset("paper").classifier_augmentation("cla_org") == "paper"  # from scratch: the classifiers' own
    with pytest.raises(ValueError, match="unknown finetune.augmentation 'mirror'"):
        Preset.from_dict(dict(preset.to_dict(), finetune={"augmentation": "mirror", "train": {"epochs": 1,
                                                                                           "batch_size": 8}}))
    with pytest.raises(ValueError, match="unknown finetune.augmentation 'mirror'"):
        FinetuneConfig(augmentation={"cla_org": "mirror"})
    with pytest.raises(ValueError, match="keyed by stage .*got cla_base"):
        FinetuneConfig(augmentation={"cla_base": "flip"})
    partial = RunConfig(degradation="jpeg")
    partial.preset.finetune.augmentation = {"cla_org": "flip"}
    with pytest.raises(ValueError, match="finetune.augmentation has no value for 'cla_deg'"):
        expected_stage_config(partial, "cla_deg")


def test_finetuned_stages_are_the_delivered_classifiers():
    assert FINETUNED_STAGES == ("cla_org", "cla_deg", "cla_res")
    assert FINETUNED_STAGES == tuple(s for s in stage_names(warm_start_only=False) if get_stage(s).trained_on)


def test_every_preset_section_is_read_by_a_stage_or_the_sweep():
    """The registry says which stages a section retrains: a section no stage lists would change training
    without ever retraining anything."""
    from keras_irdi.preset_sections import SECTIONS
    from keras_irdi.stage_registry import all_stages

    assert set(SECTIONS) - {"evaluation"} == set().union(*(s.sections for s in all_stages()))


@pytest.mark.parametrize("path, value, retrained", [
    ("estimator.filters", 16, ["estimator", "weight_net"]),
    ("restoration.psnr_cap_db", 40.0, ["restoration", "cla_res", "weight_net"]),
    ("classifier.dense", 128, ["cla_base", "cla_org", "cla_deg", "cla_res", "weight_net"]),
    ("finetune.train", StageConfig(epochs=4, batch_size=128), ["cla_org", "cla_deg", "cla_res", "weight_net"]),
    ("finetune.augmentation", "flip", ["cla_org", "cla_deg", "cla_res", "weight_net"]),
    ("weight_net.hidden", (8,), ["weight_net"]),
    ("evaluation.sweep_step", 5, []),
])
def test_a_field_change_retrains_the_stages_built_on_it(path, value, retrained):
    base, changed = RunConfig(degradation="jpeg"), RunConfig(degradation="jpeg")
    section, name = path.split(".")
    setattr(getattr(changed.preset, section), name, value)
    assert [s for s in training_stages(base)
            if expected_stage_config(base, s) != expected_stage_config(changed, s)] == retrained


@pytest.mark.parametrize("stage", FINETUNED_STAGES)
def test_a_per_stage_augmentation_retrains_only_that_classifier(stage):
    base, changed = RunConfig(degradation="jpeg"), RunConfig(degradation="jpeg")
    per_stage = {s: base.preset.finetune.for_stage(s).augmentation for s in FINETUNED_STAGES}
    changed.preset.finetune.augmentation = dict(per_stage)
    assert all(expected_stage_config(base, s) == expected_stage_config(changed, s) for s in training_stages(base))
    changed.preset.finetune.augmentation[stage] = "flip"
    built_on = ["weight_net"] if stage in ("cla_org", "cla_res") else []  # the weight net reads Cla(org), Cla(res)
    assert [s for s in training_stages(base)
            if expected_stage_config(base, s) != expected_stage_config(changed, s)] == [stage, *built_on]


def test_cla_org_config_does_not_depend_on_the_degradation():
    jpeg, gauss = RunConfig(degradation="jpeg"), RunConfig(degradation="gaussian")
    assert expected_stage_config(jpeg, "cla_org") == expected_stage_config(gauss, "cla_org")
    assert expected_stage_config(jpeg, "cla_deg") != expected_stage_config(gauss, "cla_deg")
    assert expected_stage_config(jpeg, "cla_base") == expected_stage_config(gauss, "cla_base")
    # Warm-started classifiers depend on the base they start from; the paper's train from scratch.
    for stage in ("cla_org", "cla_deg", "cla_res"):
        assert "input_cla_base" in expected_stage_config(jpeg, stage)
        assert "input_cla_base" not in expected_stage_config(RunConfig(preset=get_preset("paper")), stage)
    assert training_stages(jpeg).index("cla_base") < training_stages(jpeg).index("cla_org")
    assert "cla_base" not in training_stages(RunConfig(preset=get_preset("paper")))


def test_reuse_copies_only_an_identical_stage(tiny_run, tmp_path):
    target = RunDir(tmp_path / "other")
    target.path.mkdir()
    assert not reuse_stage(target, tiny_run, "cla_org", {"some": "other config"})
    assert not target.has_stage("cla_org")
    assert reuse_stage(target, tiny_run, "cla_org", {})  # tiny_run's stages were saved with config {}
    a = RunDir(tiny_run).load_stage("cla_org").get_weights()
    b = target.load_stage("cla_org").get_weights()
    assert len(a) == len(b) > 0 and all(np.array_equal(x, y) for x, y in zip(a, b))
    # Recorded relative to the run (no path of this machine), so it still names the source beside it.
    reused_from = target.manifest()["stages"]["cla_org"]["reused_from"]
    assert not reused_from.startswith("/") and (target.path / reused_from).resolve() == Path(tiny_run).resolve()


class _FirstWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]


@pytest.mark.slow
def test_warm_start_begins_from_the_base(tmp_path, cifar_dir):
    preset = get_preset("smoke")
    preset.data.train_limit, preset.classifier.train.epochs = 300, 1
    run, config = open_run(tmp_path / "run", RunConfig(degradation="jpeg", preset=preset, seed=1),
                           data_dir=str(cifar_dir))
    train_classifier(run, config, "clean", base=True)
    base = run.load_stage("cla_base").get_weights()
    for data, stage in (("clean", "cla_org"), ("degraded", "cla_deg")):
        first = _FirstWeights()
        train_classifier(run, config, data, callbacks=[first])
        assert len(first.weights) == len(base) and all(np.array_equal(a, b) for a, b in zip(first.weights, base))
        tuned = run.load_stage(stage).get_weights()
        assert not all(np.array_equal(a, b) for a, b in zip(tuned, base))  # and then it trained
    with pytest.raises(ValueError, match="from scratch"):
        paper = RunConfig(degradation="jpeg", preset=get_preset("paper"), runtime=RuntimeConfig(str(cifar_dir)))
        train_classifier(run, paper, "clean", base=True)
