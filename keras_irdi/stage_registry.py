"""The training stages, each declared once: what it reads, what it is built on, what trains it.

Everything else is derived from this table: the training order, the config a stage records beside its model
(``training.stage_configs``), the command that (re)trains it in every "missing stage" message, what the sweep
loads, publish ships and `irdi train --stage` accepts. Adding a stage is one ``register`` call (from here or
from the module that holds its trainer); ``tests/test_stage_registry.py`` registers a toy stage and follows
it through training, identity and the command line.
"""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Callable, Union

from keras_irdi.errors import InputError


@dataclass(frozen=True)
class Stage:
    """One trained artefact of a run (``RUN/<name>/``)."""

    name: str
    sections: tuple                 # the preset sections it reads: changing one retrains it
    # ``trainer(run, config, name) -> summary``: "module:function" (imported when the stage trains, so this
    # floor imports no TensorFlow) or the function itself.
    trainer: Union[str, Callable]
    schedule: str = ""              # the preset section whose ``train`` --epochs/--batch-size override
    inputs: tuple = ()              # trained stages it is always built on (others: ``stage_configs.stage_inputs``)
    trained_on: str = ""            # classifiers: "clean", "degraded" or "restored"
    delivered: bool = True          # evaluated, exported and published (False: the warm-start base)
    warm_start_only: bool = False   # trained only by presets that warm-start (``Preset.warm_start``)
    finetuned: bool = False         # fine-tuned from the warm-start base by those presets
    reduced_precision: bool = True  # trains (and may be swept) in the run's precision; False: always float32
    sees_degradation: bool = True   # False: one artefact serves runs of every degradation (``--reuse-from``)
    dilated: bool = False           # has dilated convolutions: no bfloat16 training on a CPU without AVX-512
    help: str = ""

    def command(self, run) -> str:
        """What to run to (re)train this stage of ``run``."""
        return f"irdi train --stage {self.name} --run-dir {run}"

    def train_function(self) -> Callable:
        if callable(self.trainer):
            return self.trainer
        module, function = self.trainer.split(":")
        return getattr(importlib.import_module(module), function)


_REGISTRY: dict = {}


def register(stage: Stage) -> Stage:
    """Add ``stage`` after the stages registered before it (training order: each after what it needs)."""
    if stage.name in _REGISTRY:
        raise ValueError(f"stage {stage.name!r} is already registered")
    missing = [s for s in stage.inputs if s not in _REGISTRY]
    if missing:
        raise ValueError(f"stage {stage.name!r} is built on {missing}, which are not registered before it")
    _REGISTRY[stage.name] = stage
    return stage


@contextlib.contextmanager
def registered(stage: Stage):
    """``stage`` registered for the duration of the block (tests, plug-in experiments)."""
    register(stage)
    try:
        yield stage
    finally:
        _REGISTRY.pop(stage.name, None)


def get_stage(name: str) -> Stage:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown stage {name!r}; the stages are {', '.join(_REGISTRY)}") from None


def all_stages() -> tuple:
    """Every registered stage, in training order."""
    return tuple(_REGISTRY.values())


def delivered_stages() -> tuple:
    """The names of the stages a finished run delivers (evaluated, exported, published), in training order."""
    return tuple(s.name for s in _REGISTRY.values() if s.delivered)


def stage_names(**where) -> tuple:
    """The names of the stages whose fields equal ``where`` (e.g. ``finetuned=True``), in training order."""
    return tuple(s.name for s in _REGISTRY.values() if all(getattr(s, k) == v for k, v in where.items()))


_PATCH_SECTIONS = ("data", "patches")
_FINETUNED = ("data", "classifier", "finetune")
_CLASSIFIER = "keras_irdi.training.stages:train_classifier_stage"

# Training order: the two cheap patch nets first (a failed recipe shows in minutes, not after the classifiers),
# then each stage after what it needs.
register(Stage("restoration", _PATCH_SECTIONS + ("restoration",), "keras_irdi.training.stages:train_restoration",
               schedule="restoration", dilated=True, help="the restoration net, on degraded/clean patch pairs"))
register(Stage("estimator", _PATCH_SECTIONS + ("estimator",), "keras_irdi.training.stages:train_estimator",
               schedule="estimator", dilated=True, help="the degradation-level estimator, on degraded patches"))
register(Stage("cla_base", ("data", "classifier"), _CLASSIFIER, schedule="classifier", trained_on="clean",
               delivered=False, warm_start_only=True, sees_degradation=False,
               help="the clean-image classifier that warm-start presets fine-tune the three classifiers from"))
register(Stage("cla_org", _FINETUNED, _CLASSIFIER, schedule="finetune", trained_on="clean", finetuned=True,
               sees_degradation=False, help="Cla(org): the classifier trained on clean images"))
register(Stage("cla_deg", _FINETUNED, _CLASSIFIER, schedule="finetune", trained_on="degraded", finetuned=True,
               help="Cla(deg): the classifier trained on degraded images"))
register(Stage("cla_res", _FINETUNED, _CLASSIFIER, schedule="finetune", trained_on="restored", finetuned=True,
               inputs=("restoration",), help="Cla(res): the classifier trained on restored images"))
register(Stage("weight_net", ("data", "weight_net"), "keras_irdi.training.weight_net_stage:train_weight_net",
               schedule="weight_net", inputs=("restoration", "estimator", "cla_org", "cla_res"),
               reduced_precision=False,  # a few hundred weights
               help="the ensemble-weight net inside the Proposed network, every other weight frozen"))
