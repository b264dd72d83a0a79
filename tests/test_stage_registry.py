"""keras_irdi.stage_registry: a stage is declared once, and that one declaration reaches training order,
identity (what retrains it), the "missing stage" messages and `irdi train --stage`. Proved with a toy stage."""
import pytest

from helpers import finished_run, random_stages, tiny_model
from keras_irdi.errors import InputError
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig
from keras_irdi.runs.directory import MissingStageError
from keras_irdi.stage_registry import (Stage, all_stages, delivered_stages, get_stage, register, registered,
                                      stage_names)
from keras_irdi.training.stage_configs import expected_stage_config, stage_inputs, training_stages
from keras_irdi.training.stages import train_all


def test_the_papers_stages_in_training_order():
    assert [s.name for s in all_stages()] == ["restoration", "estimator", "cla_base", "cla_org", "cla_deg",
                                              "cla_res", "weight_net"]
    assert delivered_stages() == ("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net")
    # Each stage is trained after every stage it is built on.
    order = [s.name for s in all_stages()]
    for preset in ("small", "paper"):
        config = RunConfig(preset=get_preset(preset))
        for stage in training_stages(config):
            assert all(order.index(up) < order.index(stage) for up in stage_inputs(config, stage)), stage
    assert "cla_base" in training_stages(RunConfig(preset=get_preset("small")))
    assert "cla_base" not in training_stages(RunConfig(preset=get_preset("paper")))


def test_dilated_says_which_stages_build_dilated_convolutions():
    """The flag that refuses bfloat16 training without AVX-512 matches the networks the stages build."""
    import keras

    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net

    nets = {"restoration": build_restoration_net(8), "estimator": build_level_estimator(8),
            "cla_base": build_classifier(filters=(8, 16, 32), dense_units=16)}
    for name, net in nets.items():
        rates = [layer.dilation_rate[0] for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
        assert get_stage(name).dilated == (max(rates) > 1), name
    assert stage_names(dilated=True) == ("restoration", "estimator")


def test_a_stage_is_registered_once_and_after_what_it_needs():
    with pytest.raises(ValueError, match="already registered"):
        register(Stage("cla_org", ("data",), trainer=lambda *a: {}))
    with pytest.raises(ValueError, match="built on \\['nothing'\\]"):
        register(Stage("toy", ("data",), trainer=lambda *a: {}, inputs=("nothing",)))
    with pytest.raises(InputError, match="unknown stage 'toy'; the stages are restoration, estimator"):
        get_stage("toy")


@pytest.fixture(scope="module")
def stages():
    return random_stages("jpeg", 10, 0)


def test_a_toy_stage_registered_in_one_place_trains_retrains_and_is_named(tmp_path, stages, cifar_dir, capsys):
    trained = []

    def train_toy(run, config, stage):
        trained.append(stage)
        run.require(*stage_inputs(config, stage))
        run.save_stage(stage, tiny_model(), expected_stage_config(config, stage), export=False)
        return {"seconds": 0.0}

    run, config = finished_run(tmp_path / "run", stages, cifar_dir, warm_start=False)
    toy = Stage("toy", ("data", "weight_net"), trainer=train_toy, schedule="weight_net", inputs=("cla_org",),
                delivered=False, reduced_precision=False, help="a stage of the registry test")
    with registered(toy):
        # Training order, what it is built on and what it records: from the one declaration.
        assert training_stages(config)[-1] == "toy" and stage_inputs(config, "toy") == ("cla_org",)
        identity = expected_stage_config(config, "toy")
        assert set(identity["preset"]) == {"data", "weight_net"} and "input_cla_org" in identity
        assert config.preset.schedule("toy") is config.preset.weight_net.train
        # "Missing stage" names the command that trains it.
        with pytest.raises(MissingStageError, match=f"irdi train --stage toy --run-dir {run.path}"):
            run.require("toy")

        train_all(run, config)
        assert trained == ["toy"]  # the six others are up to date
        assert capsys.readouterr().out.count("up to date, skipped") == len(delivered_stages())
        train_all(run, config)
        assert trained == ["toy"]  # now it is too

        # A section it reads changes: it is retrained (as are the stages that read that section).
        config.preset.weight_net.hidden = (4,)
        assert expected_stage_config(config, "toy") != identity
        assert not run.has_stage("toy", expected_stage_config(config, "toy"))

        # The command line knows it: irdi train --stage toy, --epochs applied to its schedule.
        from keras_irdi.commands.irdi import main

        assert main(["train", "--stage", "toy", "--run-dir", str(run.path), "--epochs", "7"]) == 0
        assert trained == ["toy", "toy"]
    with pytest.raises(InputError, match="unknown stage"):
        get_stage("toy")
    assert training_stages(config)[-1] == "weight_net"
