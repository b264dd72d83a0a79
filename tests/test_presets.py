"""keras_irdi.preset_sections and keras_irdi.presets: the sections' choices, the presets by name, and a run
config's round trip."""
import pytest

from keras_irdi.preset_sections import ClassifierConfig, PatchConfig, RestorationConfig, StageConfig, WeightNetConfig
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig, RuntimeConfig


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


def test_run_config_round_trips_through_its_dict():
    config = RunConfig(degradation="gaussian", preset=get_preset("small_v1"), seed=2,
                       runtime=RuntimeConfig(data_dir="/data", clean_dirs=["/photos"]))
    assert RunConfig.from_dict(config.to_dict()) == config


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'smal'; choose one of: smoke, small, paper"):
        get_preset("smal")
