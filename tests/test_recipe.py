"""The training recipe's parts: schedules and optimizers, the PSNR loss, warm start, stage reuse."""
import keras
import numpy as np
import pytest

from keras_irdi.artifacts import RunDir
from keras_irdi.models import PSNRLoss, psnr_loss
from keras_irdi.presets import Preset, StageConfig, get_preset
from keras_irdi.fitting import make_optimizer
from keras_irdi.runs import RunConfig, open_run
from keras_irdi.training import (expected_stage_config, reuse_stage, training_stages,
                                 train_classifier)


def test_warmup_cosine_schedule():
    cfg = StageConfig(epochs=4, batch_size=8, learning_rate=0.006, schedule="warmup_cosine", warmup_epochs=0.5,
                      warmup_start=0.1)
    opt = make_optimizer(cfg, steps_per_epoch=100)  # 400 steps, 50 of warm-up
    assert isinstance(opt, keras.optimizers.Adamax)
    lr = opt.learning_rate  # the schedule, called with the step
    schedule = opt._learning_rate
    at = lambda step: float(schedule(step))  # noqa: E731
    assert at(0) == pytest.approx(0.0006)
    assert at(25) == pytest.approx(0.0033, rel=1e-3)  # linear warm-up, halfway
    assert at(50) == pytest.approx(0.006)
    assert at(225) == pytest.approx(0.003, rel=1e-3)  # cosine halfway
    assert at(400) == pytest.approx(0.0, abs=1e-9)
    assert float(lr) == pytest.approx(0.0006)  # what the optimizer uses at its current step 0


def test_constant_schedule_and_adam():
    opt = make_optimizer(StageConfig(epochs=2, batch_size=8, learning_rate=0.001, optimizer="adam"), 10)
    assert isinstance(opt, keras.optimizers.Adam) and float(opt.learning_rate) == pytest.approx(0.001)


@pytest.mark.parametrize("bad", [dict(schedule="cosine"), dict(optimizer="sgd")])
def test_stage_config_rejects_unknown_choices(bad):
    with pytest.raises(ValueError, match="choose one of"):
        StageConfig(epochs=1, batch_size=1, **bad)


@pytest.mark.parametrize("bad", [dict(classifier_augmentation="mixup"), dict(patch_source="web"),
                                 dict(restoration_loss="l1")])
def test_preset_rejects_unknown_choices(bad):
    with pytest.raises(ValueError, match="choose one of"):
        Preset(name="x", **bad)


def test_old_manifest_preset_without_new_stage_config_still_loads():
    d = get_preset("small").to_dict()
    del d["classifier_finetune"]
    assert Preset.from_dict(d).classifier_finetune.epochs == Preset(name="x").classifier_finetune.epochs


def test_psnr_loss_is_per_image_log_mse():
    rng = np.random.default_rng(0)
    clean = rng.random((2, 8, 8, 3)).astype(np.float32)
    err = np.stack([np.full((8, 8, 3), 0.1), np.full((8, 8, 3), 0.01)]).astype(np.float32)
    loss = np.asarray(psnr_loss(clean, clean + err))
    np.testing.assert_allclose(loss, 10 * np.log10(np.array([0.01, 0.0001]) + 1e-5), rtol=1e-5)
    # Halving the error lowers the loss by 5-6 dB at either level, where MSE would drop 100x less for the
    # nearly clean image: it counts about as much as the damaged one.
    halved = np.asarray(psnr_loss(clean, clean + err / 2))
    expected = 10 * np.log10(np.array([0.01 + 1e-5, 1e-4 + 1e-5]) / np.array([0.0025 + 1e-5, 2.5e-5 + 1e-5]))
    np.testing.assert_allclose(loss - halved, expected, rtol=1e-4)
    assert np.all((4.9 < loss - halved) & (loss - halved < 6.1))


def test_psnr_cap_bounds_the_weight_of_nearly_clean_images():
    """The cap is where the log flattens: an image restored to 60 dB counts no more than one at the cap,
    so images the degradation left nearly intact cannot hold the net at the identity."""
    clean = np.zeros((3, 4, 4, 3), np.float32)
    err = np.stack([np.full((4, 4, 3), e) for e in (0.1, 1e-3, 0.0)]).astype(np.float32)  # 20, 60, inf dB
    capped = np.asarray(PSNRLoss(cap_db=30.0)(clean, clean + err[:1]))
    np.testing.assert_allclose(capped, 10 * np.log10(0.01 + 1e-3), rtol=1e-5)
    per_image = np.asarray(PSNRLoss(cap_db=30.0, reduction=None)(clean, clean + err))
    np.testing.assert_allclose(per_image, 10 * np.log10(np.array([0.01, 1e-6, 0.0]) + 1e-3), rtol=1e-4)
    assert per_image[1] - per_image[2] < 0.005  # 60 dB and a perfect image: the same to within 0.005 dB
    np.testing.assert_allclose(np.asarray(PSNRLoss(cap_db=50.0, reduction=None)(clean, clean + err)),
                               np.asarray(psnr_loss(clean, clean + err)), rtol=1e-6)  # the old function
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(PSNRLoss(cap_db=30.0)))
    assert restored.cap_db == 30.0


def test_added_preset_field_at_its_old_value_keeps_old_stage_configs():
    """Stages trained before restoration_psnr_cap_db existed had 50 dB: their config must still match."""
    config = RunConfig(degradation="jpeg")
    config.preset.restoration_psnr_cap_db = 50.0
    assert "restoration_psnr_cap_db" not in expected_stage_config(config, "restoration")["preset"]
    config.preset.restoration_psnr_cap_db = 30.0
    assert expected_stage_config(config, "restoration")["preset"]["restoration_psnr_cap_db"] == 30.0


def test_every_training_field_belongs_to_a_stage():
    """STAGE_FIELDS is hand-kept: a new preset field that no stage lists would change training without
    ever retraining anything."""
    import dataclasses

    from keras_irdi.training import STAGE_FIELDS

    not_training = {"name", "test_limit", "sweep_step"}  # the sweep's, not a stage's
    fields = {f.name for f in dataclasses.fields(Preset)} - not_training
    assert fields == set().union(*STAGE_FIELDS.values())


@pytest.mark.parametrize("field, value, retrained", [
    ("estimator_filters", 16, ["estimator", "weight_net"]),
    ("restoration_psnr_cap_db", 40.0, ["restoration", "cla_res", "weight_net"]),
    ("classifier_dense", 128, ["cla_base", "cla_org", "cla_deg", "cla_res", "weight_net"]),
    ("weight_hidden", (8,), ["weight_net"]),
])
def test_a_field_change_retrains_the_stages_built_on_it(field, value, retrained):
    base, changed = RunConfig(degradation="jpeg"), RunConfig(degradation="jpeg")
    setattr(changed.preset, field, value)
    assert [s for s in training_stages(base)
            if expected_stage_config(base, s) != expected_stage_config(changed, s)] == retrained


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
    assert target.manifest()["stages"]["cla_org"]["reused_from"] == str(RunDir(tiny_run).path.resolve())


class _FirstWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]


def test_warm_start_begins_from_the_base(tmp_path, cifar_dir):
    preset = get_preset("smoke", train_limit=300)
    preset.classifier.epochs = 1
    run, config = open_run(tmp_path / "run", RunConfig(degradation="jpeg", preset=preset, seed=1,
                                                       cifar_dir=str(cifar_dir)))
    train_classifier(run, config, "clean", base=True)
    base = run.load_stage("cla_base").get_weights()
    for data, stage in (("clean", "cla_org"), ("degraded", "cla_deg")):
        first = _FirstWeights()
        train_classifier(run, config, data, callbacks=[first])
        assert len(first.weights) == len(base) and all(np.array_equal(a, b) for a, b in zip(first.weights, base))
        tuned = run.load_stage(stage).get_weights()
        assert not all(np.array_equal(a, b) for a, b in zip(tuned, base))  # and then it trained
    with pytest.raises(ValueError, match="from scratch"):
        paper = RunConfig(degradation="jpeg", preset=get_preset("paper"), cifar_dir=str(cifar_dir))
        train_classifier(run, paper, "clean", base=True)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
