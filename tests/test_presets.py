"""keras_irdi.presets: the sections' choices, the presets by name, and how the flat presets of older runs read."""
import pytest

from keras_irdi.presets import (ClassifierConfig, PatchConfig, Preset, RestorationConfig, StageConfig,
                                WeightNetConfig, get_preset)
from keras_irdi.runs.config import RunConfig, RuntimeConfig
from old_runs import FLAT_SMALL


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


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
