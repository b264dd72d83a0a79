"""The named presets: smoke (CI), small and its released recipes (the 2-core CPU reproduction), the paper-width
recipes, paper (a GPU). Each is built from ``preset_sections``; a preset whose results are committed is frozen, and a
new recipe is a new name.
"""
from __future__ import annotations

import dataclasses

from keras_irdi.errors import InputError
from keras_irdi.preset_sections import (ClassifierConfig, DataConfig, EstimatorConfig, EvalConfig, FinetuneConfig,
                                        PatchConfig, Preset, RestorationConfig, StageConfig, WeightNetConfig)

def _small_restoration(epochs: int) -> StageConfig:
    """The `small` restoration schedule: Adam 1e-3, warm-up + cosine, 500 steps of 32 CIFAR images an epoch."""
    return StageConfig(epochs=epochs, batch_size=32, steps_per_epoch=500, learning_rate=0.001, optimizer="adam",
                       schedule="warmup_cosine", warmup_epochs=0.2)


PRESETS = {
    # CI end to end: a few hundred real images, tiny nets, a couple of minutes. Not meant to be accurate.
    "smoke": Preset(
        name="smoke",
        data=DataConfig(train_limit=1200),
        patches=PatchConfig(source="both", size=32, stride=32, max_patches=256),
        restoration=RestorationConfig(filters=8, loss="psnr",
                                      train=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8),
                                      quality_gate=True, quality_gate_step=10),
        estimator=EstimatorConfig(filters=8, train=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8,
                                                               optimizer="adam", learning_rate=0.001)),
        classifier=ClassifierConfig(filters=(8, 16, 32), dense=32, dropout=0.0, augmentation="flip_shift",
                                    train=StageConfig(epochs=3, batch_size=32, learning_rate=0.004)),
        finetune=FinetuneConfig(train=StageConfig(epochs=1, batch_size=32, learning_rate=0.002)),
        weight_net=WeightNetConfig(hidden=(8,), train_images=400, augmentation="flip_shift",
                                   train=StageConfig(epochs=2, batch_size=64)),
        evaluation=EvalConfig(test_limit=200, sweep_step=33)),
    # The CPU reproduction: full 45k CIFAR train set, 1000 test images, narrower nets, short schedules;
    # each choice and its measurement in docs/DECISIONS.md, "The `small` recipe".
    "small": Preset(
        name="small",
        patches=PatchConfig(source="cifar", size=32, stride=16, max_patches=100000),
        restoration=RestorationConfig(filters=32, loss="psnr", psnr_cap_db={"jpeg": 30.0, "gaussian": 40.0,
                                                                          "blur": 30.0},
                                      train={"jpeg": _small_restoration(6), "gaussian": _small_restoration(10),
                                             "blur": _small_restoration(6)}),
        estimator=EstimatorConfig(filters=32, train=StageConfig(
            epochs=10, batch_size=32, steps_per_epoch=500, learning_rate=0.003, optimizer="adam",
            schedule="warmup_cosine", warmup_epochs=0.2)),
        classifier=ClassifierConfig(filters=(32, 64, 128), dense=256, dropout=0.0, augmentation="flip_shift",
                                    train=StageConfig(epochs=14, batch_size=128, learning_rate=0.006,
                                                      schedule="warmup_cosine", warmup_epochs=0.5,
                                                      warmup_start=0.083)),
        finetune=FinetuneConfig(augmentation={"cla_org": "flip_small_shift", "cla_deg": None, "cla_res": None},
                                train=StageConfig(epochs=3, batch_size=128, learning_rate=0.003,
                                                  schedule="warmup_cosine", warmup_epochs=0.25)),
        weight_net=WeightNetConfig(train_images=10000, augmentation="flip_shift",
                                   train=StageConfig(epochs=20, batch_size=128)),
        evaluation=EvalConfig()),
    # The paper's setting as far as it is known (64 filters, 64x64 patches, full schedules): for a GPU.
    "paper": Preset(name="paper"),
}


def _small_with_weight_net(name: str, **weight_net) -> Preset:
    """`small` with another weight net. Every other section is `small`'s, so a run of this preset on a
    `small` run directory (or with ``--reuse-from`` one) keeps its trained stages and retrains the weight net."""
    small = PRESETS["small"]
    return dataclasses.replace(small, name=name, weight_net=dataclasses.replace(small.weight_net, **weight_net))


# Weight-net variants on `small`'s stages (experiments/weight_net_ablation/weight_net_ablation.md): the paper's net
# trained on held-out images, the journal's level + confidence, a third member (docs/DECISIONS.md, "The weight net").
_HELD_OUT = dict(train_split="validation", levels_per_image=20)
PRESETS.update({
    "small_heldout": _small_with_weight_net("small_heldout", **_HELD_OUT),
    "small_heldout_confidence": _small_with_weight_net("small_heldout_confidence", features="confidence",
                                                       **_HELD_OUT),
    "small_heldout_three": _small_with_weight_net("small_heldout_three", members=("seq_org", "seq_res", "cla_deg"),
                                                  **_HELD_OUT),
})

# The 1.0 release recipe: `small`'s stages, the three-member held-out weight net (small_heldout_three), and the
# JPEG restoration gated by the image's quality (docs/DECISIONS.md, "Never harming"), fitted at every second
# quality, to keep the run within its 90 minutes (docs/DECISIONS.md, "Never harming").
PRESETS["small_v1"] = dataclasses.replace(
    PRESETS["small_heldout_three"], name="small_v1",
    restoration=dataclasses.replace(PRESETS["small"].restoration, quality_gate=True, quality_gate_step=2))


# `small_v1` at the paper's widths in bfloat16, its schedules (DECISIONS, "A preset at the paper's widths").
_V1 = PRESETS["small_v1"]
PRESETS["wide_v1"] = dataclasses.replace(
    _V1, name="wide_v1", precision="bfloat16", restoration=dataclasses.replace(_V1.restoration, filters=64),
    estimator=dataclasses.replace(_V1.estimator, filters=64),
    classifier=dataclasses.replace(_V1.classifier, filters=(64, 128, 256), dense=512))


# `wide_v1` with the schedules its probes chose (DECISIONS, "A preset at the paper's widths"): the base classifier
# 28 epochs (clean validation 0.877 against 0.848), the JPEG restoration net 18 (+0.95 dB at QF 10 against +0.65).
# Noise and blur keep `wide_v1`'s restoration schedules, which no probe measured.
_W1 = PRESETS["wide_v1"]
PRESETS["wide_v2"] = dataclasses.replace(
    _W1, name="wide_v2",
    classifier=dataclasses.replace(_W1.classifier, train=dataclasses.replace(_W1.classifier.train, epochs=28)),
    restoration=dataclasses.replace(_W1.restoration, train={**_W1.restoration.train, "jpeg": _small_restoration(18)}))


def get_preset(name: str) -> Preset:
    """A copy of a preset (a deep one: callers may change its sections)."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return Preset.from_dict(PRESETS[name].to_dict())

