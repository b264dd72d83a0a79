"""What each training stage depends on: the preset sections it reads and the stages it is built on
(declared in ``keras_irdi.stage_registry``).

A stage records this (``expected_stage_config``) beside its model, so `irdi train` retrains exactly the
stages whose record no longer matches, and every stage trained on top of them.
"""
from __future__ import annotations

import contextlib

from keras_irdi.errors import InputError
from keras_irdi.runs.config import RunConfig, get_strategy
from keras_irdi.runs.directory import as_json
from keras_irdi.runs.provenance import SCHEMA_VERSION
from keras_irdi.stage_registry import all_stages, get_stage, stage_names


def classifier_stage(data: str, base: bool = False) -> str:
    """The classifier stage trained on ``data`` ("clean", "degraded", "restored"); ``base``: the warm-start base."""
    found = [s.name for s in all_stages() if s.trained_on == data and s.warm_start_only == base]
    if not found:
        choices = sorted({s.trained_on for s in all_stages() if s.trained_on})
        raise InputError(f"--data must be one of {', '.join(choices)}, got {data!r}")
    return found[0]


def stage_inputs(config: RunConfig, stage: str) -> tuple:
    """The trained stages a stage is built on: its registered inputs, the warm-start base for a fine-tuned
    classifier of a warm-start preset, and each classifier the weight net mixes that it does not list."""
    s = get_stage(stage)
    warm = stage_names(warm_start_only=True) if config.preset.warm_start and s.finetuned else ()
    extra = tuple(m for m in config.preset.weight_net.members if m in stage_names() and m not in s.inputs) \
        if stage == "weight_net" else ()
    return warm + s.inputs + extra


def training_stages(config: RunConfig) -> tuple:
    """The stages a run trains, in order: every registered one, the warm-start base only for warm-start presets."""
    return tuple(s.name for s in all_stages() if config.preset.warm_start or not s.warm_start_only)


def expected_stage_config(config: RunConfig, stage: str) -> dict:
    """What a stage's artefact depends on; `irdi train` retrains it when this changes.

    Includes the configs of the frozen stages it was trained on, so retraining the restoration net
    also invalidates Cla(res) and the weight net.
    """
    preset = config.preset.for_degradation(config.degradation).for_stage(stage).to_dict()
    out = {"schema_version": SCHEMA_VERSION, "stage": stage, "degradation": config.degradation,
           "dataset": config.dataset, "seed": config.seed,
           "preset": {k: preset[k] for k in get_stage(stage).sections}}
    if get_stage(stage).trained_on:
        out["data"] = get_stage(stage).trained_on
    if not get_stage(stage).sees_degradation:  # one artefact serves runs of every degradation
        del out["degradation"]
    if stage_precision(config, stage) != "float32":  # float32 by absence: stages saved before the option stay valid
        out["precision"] = stage_precision(config, stage)
    for upstream in stage_inputs(config, stage):
        out[f"input_{upstream}"] = expected_stage_config(config, upstream)
    return as_json(out)


def stage_precision(config: RunConfig, stage: str) -> str:
    """The precision ``stage`` trains in (models/precision.py)."""
    return (config.precision or "float32") if get_stage(stage).reduced_precision else "float32"


@contextlib.contextmanager
def strategy_scope(config: RunConfig, stage: str):
    """Where ``stage`` builds its network: the run's distribution strategy and the stage's precision policy."""
    from keras_irdi.models.precision import precision_policy

    with get_strategy(config.runtime.strategy).scope(), precision_policy(stage_precision(config, stage)):
        yield
