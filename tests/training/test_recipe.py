"""The training recipe's parts: schedules and optimizers, the PSNR loss, warm start, stage reuse."""
import keras
import numpy as np
import pytest

from keras_irdi.runs.directory import RunDir, as_json
from keras_irdi.models import PSNRLoss, psnr_loss
from keras_irdi.presets import (FINETUNED_STAGES, ClassifierConfig, FinetuneConfig, PatchConfig, Preset,
                                RestorationConfig, StageConfig, WeightNetConfig, get_preset)
from keras_irdi.training.fitting import make_optimizer
from keras_irdi.runs.config import RunConfig, RuntimeConfig, open_run
from keras_irdi.training.stages import (expected_stage_config, reuse_stage, training_stages,
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


@pytest.mark.parametrize("section, bad", [(ClassifierConfig, dict(augmentation="mixup")),
                                          (PatchConfig, dict(source="web")), (RestorationConfig, dict(loss="l1")),
                                          (WeightNetConfig, dict(augmentation="mixup"))])
def test_preset_sections_reject_unknown_choices(section, bad):
    with pytest.raises(ValueError, match="choose one of"):
        section(**bad)


# The flat preset every run stored before session 7 (the small preset as it was then), abridged to the
# fields that differ from the paper's defaults plus the ones whose translation is special.
FLAT_SMALL = {
    "name": "small", "patch_size": 32, "patch_stride": 16, "max_patches": 100000, "restoration_filters": 32,
    "estimator_filters": 32, "classifier_filters": [32, 64, 128], "classifier_dense": 256,
    "classifier_dropout": 0.0, "classifier_augmentation": "flip_shift", "warm_start": True,
    "weight_hidden": [16, 16], "patch_source": "cifar", "restoration_loss": "psnr", "restoration_psnr_cap_db": 30.0,
    "train_limit": None, "test_limit": None, "val_fraction": 0.05, "weight_train_images": 10000, "sweep_step": 1,
    "restored_copies": 1,
    "restoration": {"epochs": 6, "batch_size": 32, "steps_per_epoch": 500, "learning_rate": 0.001,
                    "optimizer": "adam", "schedule": "warmup_cosine", "warmup_epochs": 0.2, "warmup_start": 0.1},
    "estimator": {"epochs": 10, "batch_size": 32, "steps_per_epoch": 500, "learning_rate": 0.003,
                  "optimizer": "adam", "schedule": "warmup_cosine", "warmup_epochs": 0.2, "warmup_start": 0.1},
    "classifier": {"epochs": 14, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.006,
                   "optimizer": "adamax", "schedule": "warmup_cosine", "warmup_epochs": 0.5, "warmup_start": 0.083},
    "classifier_finetune": {"epochs": 3, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.003,
                            "optimizer": "adamax", "schedule": "warmup_cosine", "warmup_epochs": 0.25,
                            "warmup_start": 0.1},
    "weight_net": {"epochs": 20, "batch_size": 128, "steps_per_epoch": None, "learning_rate": 0.002,
                   "optimizer": "adamax", "schedule": "constant", "warmup_epochs": 0.0, "warmup_start": 0.1}}


def test_flat_presets_of_older_runs_read_as_the_nested_preset():
    # Session 6's small preset had one 30 dB cap; today's has one per degradation, 30 dB for JPEG. Its
    # classifiers all fine-tuned with the base's augmentation; session 9 gave Cla(org) its own.
    today = get_preset("small")
    today.finetune.augmentation = None
    assert Preset.from_dict(FLAT_SMALL).for_degradation("jpeg") == today.for_degradation("jpeg")
    assert Preset.from_dict(FLAT_SMALL).for_degradation("jpeg") != get_preset("small").for_degradation("jpeg")
    assert Preset.from_dict(FLAT_SMALL).classifier_augmentation("cla_org") == "flip_shift"  # the base's
    old_paper = dict(FLAT_SMALL, warm_start=False)  # a from-scratch run: its fine-tune schedule meant nothing
    assert Preset.from_dict(old_paper).finetune is None
    before_cap = {k: v for k, v in FLAT_SMALL.items() if k != "restoration_psnr_cap_db"}
    assert Preset.from_dict(before_cap).restoration.psnr_cap_db == 50.0  # what runs did before the field


def test_old_runtime_fields_read_into_the_runtime_section():
    old = {"degradation": "gaussian", "dataset": "cifar10", "preset": FLAT_SMALL, "seed": 2, "cifar_dir": "/data",
           "clean_dirs": ["/photos"], "strategy": "default"}
    config = RunConfig.from_dict(old)
    assert (config.degradation, config.seed, config.preset) == ("gaussian", 2, Preset.from_dict(FLAT_SMALL))
    assert config.runtime == RuntimeConfig(cifar_dir="/data", clean_dirs=["/photos"], strategy="default")
    assert RunConfig.from_dict(config.to_dict()) == config


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


def test_stage_configs_of_older_runs_still_count_as_trained(tmp_path):
    """A stage's config.json from before session 7 holds a flat preset: with the same settings it must match
    today's config (no retraining), with other settings it must not."""
    from keras_irdi.presets import FLAT_FIELDS, upgrade_stage_config

    config = RunConfig(degradation="jpeg")
    config.preset.finetune.augmentation = None  # what they fine-tuned with (session 9 gave Cla(org) its own)
    flat_fields = {  # what each stage recorded then
        "restoration": ("train_limit", "val_fraction", "patch_size", "patch_stride", "max_patches", "patch_source",
                        "restoration_filters", "restoration_loss", "restoration_psnr_cap_db", "restoration"),
        "cla_org": ("train_limit", "val_fraction", "classifier_filters", "classifier_dense", "classifier_dropout",
                    "classifier_augmentation", "classifier", "warm_start", "classifier_finetune"),
        "weight_net": ("train_limit", "val_fraction", "classifier_augmentation", "weight_hidden",
                       "weight_train_images", "weight_net")}
    for stage, fields in flat_fields.items():
        expected = expected_stage_config(config, stage)
        old = dict(expected, preset={k: FLAT_SMALL[k] for k in fields})
        if stage == "weight_net":  # its inputs' configs were flat too
            old["input_restoration"] = dict(old["input_restoration"],
                                            preset={k: FLAT_SMALL[k] for k in flat_fields["restoration"]})
        assert as_json(upgrade_stage_config(old, expected)) == as_json(expected), stage
        run = RunDir(tmp_path / stage)
        run.save_stage(stage, keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), old, export=False)
        assert run.has_stage(stage, expected)
        other = RunConfig(degradation="jpeg")
        other.preset.classifier.dense = 128
        other.preset.restoration.filters = 16
        assert not run.has_stage(stage, expected_stage_config(other, stage))
    assert set(FLAT_FIELDS) | {"name", "warm_start", "classifier_finetune", "restored_copies"} == set(FLAT_SMALL)


def test_psnr_cap_per_degradation_is_what_the_stage_trains_with_and_records():
    from keras_irdi.training.stages import PATCH_NETS

    def cap(config):
        return expected_stage_config(config, "restoration")["preset"]["restoration"]["psnr_cap_db"]

    assert {d: cap(RunConfig(degradation=d)) for d in ("jpeg", "gaussian", "blur")} == \
        {"jpeg": 30.0, "gaussian": 40.0, "blur": 30.0}
    loss = PATCH_NETS["restoration"].loss(get_preset("small").for_degradation("gaussian").restoration)
    assert loss.cap_db == 40.0
    one_cap = RunConfig(degradation="jpeg")
    one_cap.preset.restoration.psnr_cap_db = 30.0  # the JPEG runs trained before caps per degradation
    assert expected_stage_config(one_cap, "restoration") == expected_stage_config(RunConfig(), "restoration")
    assert expected_stage_config(one_cap, "cla_res") == expected_stage_config(RunConfig(), "cla_res")
    missing = RunConfig(degradation="jpeg")
    missing.preset.restoration.psnr_cap_db = {"gaussian": 40.0}
    with pytest.raises(ValueError, match="psnr_cap_db has no value for 'jpeg'"):
        expected_stage_config(missing, "restoration")


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
    with pytest.raises(ValueError, match="restoration.train has no value for 'blur'"):
        expected_stage_config(missing, "restoration")


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


def test_finetuned_stages_are_the_warm_started_classifiers():
    from keras_irdi.training.stages import CLASSIFIER_STAGES

    assert set(FINETUNED_STAGES) == set(CLASSIFIER_STAGES.values())


def test_every_preset_section_is_read_by_a_stage_or_the_sweep():
    """STAGE_SECTIONS says which stages a section retrains: a section no stage lists would change training
    without ever retraining anything."""
    from keras_irdi.presets import SECTIONS
    from keras_irdi.training.stages import STAGE_SECTIONS

    assert set(SECTIONS) - {"evaluation"} == set().union(*STAGE_SECTIONS.values())


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
    assert target.manifest()["stages"]["cla_org"]["reused_from"] == str(RunDir(tiny_run).path.resolve())


class _FirstWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]


def test_warm_start_begins_from_the_base(tmp_path, cifar_dir):
    preset = get_preset("smoke")
    preset.data.train_limit, preset.classifier.train.epochs = 300, 1
    run, config = open_run(tmp_path / "run", RunConfig(degradation="jpeg", preset=preset, seed=1),
                           cifar_dir=str(cifar_dir))
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


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
