"""Run directories written by older versions: their flat presets and stage configs, read in today's form.

Runs made before commit d7cf985 stored a flat preset, in the manifest and in every stage's config.json;
stage configs written before a preset field existed lack it. Both are read here, so a stage trained with
the same settings still counts as trained.
"""
from __future__ import annotations

import dataclasses

from keras_irdi.presets import section_from_dict


FLAT_FIELDS = {  # flat name -> (section, field)
    "train_limit": ("data", "train_limit"), "val_fraction": ("data", "val_fraction"),
    "patch_source": ("patches", "source"), "patch_size": ("patches", "size"),
    "patch_stride": ("patches", "stride"), "max_patches": ("patches", "max_patches"),
    "restoration_filters": ("restoration", "filters"), "restoration_loss": ("restoration", "loss"),
    "restoration_psnr_cap_db": ("restoration", "psnr_cap_db"), "restoration": ("restoration", "train"),
    "estimator_filters": ("estimator", "filters"), "estimator": ("estimator", "train"),
    "classifier_filters": ("classifier", "filters"), "classifier_dense": ("classifier", "dense"),
    "classifier_dropout": ("classifier", "dropout"), "classifier_augmentation": ("classifier", "augmentation"),
    "classifier": ("classifier", "train"),
    "weight_hidden": ("weight_net", "hidden"), "weight_train_images": ("weight_net", "train_images"),
    "weight_net": ("weight_net", "train"),
    "test_limit": ("evaluation", "test_limit"), "sweep_step": ("evaluation", "sweep_step"),
}


def is_flat_preset(d: dict) -> bool:
    return "val_fraction" in d  # every flat preset and every flat stage config has it; nested ones never


def upgrade_flat_preset(flat: dict) -> dict:
    """The nested dict of a flat preset (or of the part of one a stage recorded): sections hold the fields
    present, unknown flat fields (``restored_copies``) are dropped."""
    out = {"name": flat["name"]} if "name" in flat else {}
    for key, value in flat.items():
        if key in FLAT_FIELDS:
            section, name = FLAT_FIELDS[key]
            out.setdefault(section, {})[name] = value
    if "classifier_augmentation" in flat:  # the weight net augmented its images as the classifiers did
        out.setdefault("weight_net", {})["augmentation"] = flat["classifier_augmentation"]
    if "warm_start" in flat:
        out["finetune"] = flat.get("classifier_finetune") if flat["warm_start"] else None
    return out



def upgrade_stage_config(stored: dict, expected: dict) -> dict:
    """A stage's config.json written by an older version (a flat preset, a section without the fields added
    since) in today's form, holding the sections ``expected`` records: a stage trained with the same
    settings then still counts as trained."""
    out = dict(stored)
    if "schema_version" not in out and "schema_version" in expected:  # schema 1 had the same fields
        out["schema_version"] = expected["schema_version"]
    preset = stored.get("preset")
    if isinstance(preset, dict):
        # Flat presets are regrouped; every section is read back, so fields added since take their defaults
        # and a section's older form (a bare fine-tune schedule) its current one.
        nested = upgrade_flat_preset(preset) if is_flat_preset(preset) else preset
        out["preset"] = {key: dataclasses.asdict(section) if (section := section_from_dict(key, nested[key]))
                         is not None else None for key in expected.get("preset", {}) if key in nested}
    for key, value in stored.items():  # the configs of the stages it was trained on
        if key.startswith("input_") and isinstance(value, dict) and isinstance(expected.get(key), dict):
            out[key] = upgrade_stage_config(value, expected[key])
    return out
