"""The training stages and train/all.py: end to end on real data, resume, determinism, CLI errors."""
import csv
import json
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.artifacts import BASE_STAGE, STAGES, RunDir
from keras_irdi.presets import get_preset
from keras_irdi.training import RunConfig, ensemble_inputs, open_run, train_classifier, weight_training_model

from helpers import random_stages, run_script as cli


def test_smoke_end_to_end(smoke_run):
    run, proc = smoke_run
    rd = RunDir(run)
    for stage in STAGES:
        d = rd.stage_dir(stage)
        assert (d / "model.keras").is_file() and (d / "savedmodel" / "saved_model.pb").is_file()
        assert json.loads((d / "config.json").read_text())["stage"] == stage
        assert rd.load_stage(stage) is not None
        assert (run / "logs" / f"{stage}.csv").is_file()
    assert not list(run.glob("*.tmp")), "half-written stage left behind"
    manifest = rd.manifest()
    assert manifest["config"]["preset"]["name"] == "smoke"
    assert set(manifest["stages"]) == set(STAGES) | {BASE_STAGE}  # smoke warm-starts: a base is trained
    assert rd.has_stage(BASE_STAGE) and not (rd.stage_dir(BASE_STAGE) / "savedmodel").exists()
    assert all(s["seconds"] > 0 and s["peak_rss_mb"] > 0 for s in manifest["stages"].values())
    # The run's cost is counted stage by stage (so reuse and re-evaluation keep it), plus the sweep.
    training = sum(s["seconds"] for s in manifest["stages"].values())
    assert manifest["training_seconds"] == pytest.approx(training, abs=0.2)
    sweep = sum(e["seconds"] for e in manifest["eval"].values())
    assert manifest["total_seconds"] == pytest.approx(training + sweep, abs=0.2)
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
    preset = get_preset("smoke", train_limit=300, warm_start=False)  # Cla(org) from scratch, no base
    preset.classifier.epochs = epochs
    return RunConfig(degradation="jpeg", preset=preset, seed=3, cifar_dir=str(cifar_dir))


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
    assert results[0] == results[1]


def test_weight_net_training_on_cached_outputs_equals_training_inside_proposed():
    from keras_irdi.models.composites import build_composite

    stages = random_stages(classifier_filters=(4, 4, 4), classifier_dense=4, classifier_dropout=0.0)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    y = np.arange(8) % 10
    loss = keras.losses.SparseCategoricalCrossentropy()
    proposed = build_composite("proposed", stages, "jpeg")
    cached = ensemble_inputs(stages, x)
    tail = weight_training_model(stages["weight_net"])
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
    assert len(cla["epoch_seconds"]) == len(cla["load_avg_1min"]) == get_preset("smoke").classifier.epochs
    assert all(s > 0 for s in cla["epoch_seconds"]) and sum(cla["epoch_seconds"]) <= cla["seconds"]
    assert "[cla_org] epoch 1:" in proc.stdout and "load average" in proc.stdout
