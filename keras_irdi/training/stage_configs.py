"""What each training stage depends on: the preset sections it reads and the stages it is built on.

A stage records this (``expected_stage_config``) beside its model, so `train/all.py` retrains exactly the
stages whose record no longer matches, and every stage trained on top of them.
"""
from __future__ import annotations

import contextlib

from keras_irdi.runs.config import RunConfig, get_strategy
from keras_irdi.runs.directory import BASE_STAGE, REDUCED_PRECISION_STAGES, STAGES, as_json
from keras_irdi.runs.provenance import SCHEMA_VERSION

# What each classifier trains on; the warm-start base is the clean one's start.
TRAINED_ON = {BASE_STAGE: "clean", "cla_org": "clean", "cla_deg": "degraded", "cla_res": "restored"}
CLASSIFIER_STAGES = {data: stage for stage, data in TRAINED_ON.items() if stage != BASE_STAGE}


# The preset sections each stage reads: changing a section retrains the stages that read it (and,
# through the stage configs they record, the stages trained on top of them).
_FINETUNED = ("data", "classifier", "finetune")
STAGE_SECTIONS = {"restoration": ("data", "patches", "restoration"), "estimator": ("data", "patches", "estimator"),
                  "cla_base": ("data", "classifier"), "cla_org": _FINETUNED, "cla_deg": _FINETUNED,
                  "cla_res": _FINETUNED, "weight_net": ("data", "weight_net")}
STAGE_INPUTS = {"cla_res": ("restoration",), "weight_net": ("restoration", "estimator", "cla_org", "cla_res")}


def stage_inputs(config: RunConfig, stage: str) -> tuple:
    """The trained stages a stage is built on (warm-started classifiers also start from the base; a weight
    net that mixes Cla(deg) is built on it too)."""
    warm = (BASE_STAGE,) if config.preset.warm_start and stage in CLASSIFIER_STAGES.values() else ()
    extra = ("cla_deg",) if stage == "weight_net" and "cla_deg" in config.preset.weight_net.members else ()
    return warm + STAGE_INPUTS.get(stage, ()) + extra


def training_stages(config: RunConfig) -> tuple:
    """The stages a run trains, in order: the six delivered ones, plus the shared base of warm starts."""
    if not config.preset.warm_start:
        return STAGES
    i = STAGES.index("cla_org")
    return STAGES[:i] + (BASE_STAGE,) + STAGES[i:]


def expected_stage_config(config: RunConfig, stage: str) -> dict:
    """What a stage's artefact depends on; `train/all.py` retrains it when this changes.

    Includes the configs of the frozen stages it was trained on, so retraining the restoration net
    also invalidates Cla(res) and the weight net.
    """
    preset = config.preset.for_degradation(config.degradation).for_stage(stage).to_dict()
    out = {"schema_version": SCHEMA_VERSION, "stage": stage, "degradation": config.degradation,
           "dataset": config.dataset, "seed": config.seed,
           "preset": {k: preset[k] for k in STAGE_SECTIONS[stage]}}
    if stage in TRAINED_ON:
        out["data"] = TRAINED_ON[stage]
    if stage in ("cla_base", "cla_org"):  # never see a degradation: one serves runs of every degradation
        del out["degradation"]
    if stage_precision(config, stage) != "float32":  # float32 by absence: stages saved before the option stay valid
        out["precision"] = stage_precision(config, stage)
    for upstream in stage_inputs(config, stage):
        out[f"input_{upstream}"] = expected_stage_config(config, upstream)
    return as_json(out)


def stage_precision(config: RunConfig, stage: str) -> str:
    """The precision ``stage`` trains in (models/precision.py)."""
    return (config.precision or "float32") if stage in REDUCED_PRECISION_STAGES else "float32"


@contextlib.contextmanager
def strategy_scope(config: RunConfig, stage: str):
    """Where ``stage`` builds its network: the run's distribution strategy and the stage's precision policy."""
    from keras_irdi.models.precision import precision_policy

    with get_strategy(config.runtime.strategy).scope(), precision_policy(stage_precision(config, stage)):
        yield
