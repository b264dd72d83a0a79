"""keras_irdi.presets: the sections' choices, the presets by name, and how the flat presets of older runs read."""
import pytest

from keras_irdi.presets import (ClassifierConfig, PatchConfig, Preset, RestorationConfig, StageConfig,
                                WeightNetConfig, get_preset)
from keras_irdi.runs.config import RunConfig, RuntimeConfig
from keras_irdi.runs.older_runs import upgrade_flat_preset
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


@pytest.mark.parametrize("bad, message", [(dict(members=("seq_org", "cla_org")), "unknown weight_net.members entry"),
                                          (dict(members=("seq_org",)), "two or more different"),
                                          (dict(members=("seq_org", "seq_org")), "two or more different"),
                                          (dict(features="texture"), "unknown weight_net.features"),
                                          (dict(train_split="test"), "unknown weight_net.train_split"),
                                          (dict(levels_per_image=0), "levels_per_image must be >= 1")])
def test_weight_net_section_names_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        WeightNetConfig(**bad)


def test_weight_net_variants_differ_from_small_in_the_weight_net_only():
    """So a variant run on a `small` run directory retrains the weight net and nothing else."""
    small = get_preset("small").to_dict()
    for name in ("small_heldout", "small_heldout_confidence", "small_heldout_three"):
        variant = get_preset(name).to_dict()
        assert {k for k in small if small[k] != variant[k]} == {"name", "weight_net"}, name
    assert get_preset("small_heldout_three").weight_net.members == ("seq_org", "seq_res", "cla_deg")


def _from_flat(flat):
    return Preset.from_dict(upgrade_flat_preset(flat))


def test_flat_presets_of_older_runs_read_as_the_nested_preset():
    # The older small preset had one 30 dB cap; today's has one per degradation, 30 dB for JPEG. Its
    # classifiers all fine-tuned with the base's augmentation; today's gives Cla(org) its own.
    today = get_preset("small")
    today.finetune.augmentation = None
    assert _from_flat(FLAT_SMALL).for_degradation("jpeg") == today.for_degradation("jpeg")
    assert _from_flat(FLAT_SMALL).for_degradation("jpeg") != get_preset("small").for_degradation("jpeg")
    assert _from_flat(FLAT_SMALL).classifier_augmentation("cla_org") == "flip_shift"  # the base's
    old_paper = dict(FLAT_SMALL, warm_start=False)  # a from-scratch run: its fine-tune schedule meant nothing
    assert _from_flat(old_paper).finetune is None
    before_cap = {k: v for k, v in FLAT_SMALL.items() if k != "restoration_psnr_cap_db"}
    assert _from_flat(before_cap).restoration.psnr_cap_db == 50.0  # what runs did before the field


def test_old_runtime_fields_read_into_the_runtime_section():
    old = {"degradation": "gaussian", "dataset": "cifar10", "preset": FLAT_SMALL, "seed": 2, "cifar_dir": "/data",
           "clean_dirs": ["/photos"], "strategy": "default"}
    config = RunConfig.from_dict(old)
    assert (config.degradation, config.seed, config.preset) == ("gaussian", 2, _from_flat(FLAT_SMALL))
    assert config.runtime == RuntimeConfig(cifar_dir="/data", clean_dirs=["/photos"], strategy="default")
    assert RunConfig.from_dict(config.to_dict()) == config


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
