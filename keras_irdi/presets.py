"""Run presets as dataclasses: smoke (CI), small (the 2-core CPU reproduction), paper (a GPU).

A run's resolved preset is written to its manifest and read back by every later stage, so `evaluate/`
never has to be told what `train/` did. Command-line options override single fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class StageConfig:
    """Schedule of one training stage (epochs x steps, batch size, Adamax learning rate)."""

    epochs: int
    batch_size: int
    steps_per_epoch: int | None = None  # None: one pass over the data per epoch
    learning_rate: float = 0.002  # old Keras' Adamax default, the authors' (Keras 2) setting


@dataclass
class Preset:
    name: str
    # Clean-photo patches for the restoration net and the level estimator (section 4.1).
    patch_size: int = 64
    patch_stride: int = 32
    max_patches: int | None = None
    # Network widths (the paper: 64 filters everywhere, classifier 64-128-256).
    restoration_filters: int = 64
    estimator_filters: int = 64
    classifier_filters: tuple = (64, 128, 256)
    classifier_dense: int = 512
    classifier_dropout: float = 0.5
    weight_hidden: tuple = (16, 16)
    # CIFAR subset sizes (None = everything available).
    train_limit: int | None = None
    test_limit: int | None = None
    val_fraction: float = 0.05
    # Images (with augmentation and a random level each) the weight net is trained on.
    weight_train_images: int = 20000
    # Restored copies of the training set precomputed for Cla(res) (each with fresh random levels).
    restored_copies: int = 1
    # Level step of the sweep (1 = every level, as the paper's interval means need).
    sweep_step: int = 1
    restoration: StageConfig = field(default_factory=lambda: StageConfig(epochs=50, batch_size=64, steps_per_epoch=1000))
    estimator: StageConfig = field(default_factory=lambda: StageConfig(epochs=50, batch_size=64, steps_per_epoch=1000))
    classifier: StageConfig = field(default_factory=lambda: StageConfig(epochs=200, batch_size=128))
    weight_net: StageConfig = field(default_factory=lambda: StageConfig(epochs=30, batch_size=128, learning_rate=0.002))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        d = dict(d)
        for key in ("restoration", "estimator", "classifier", "weight_net"):
            d[key] = StageConfig(**d[key])
        for key in ("classifier_filters", "weight_hidden"):
            d[key] = tuple(d[key])
        return cls(**d)

    def describe(self) -> str:
        lines = [f"preset {self.name}:"]
        for k, v in self.to_dict().items():
            if k != "name":
                lines.append(f"  {k} = {v}")
        return "\n".join(lines)


PRESETS = {
    # CI end to end: a few hundred real images, tiny nets, ~1-2 min on 2 cores. Not meant to be accurate.
    "smoke": Preset(
        name="smoke", patch_size=32, patch_stride=32, max_patches=256,
        restoration_filters=8, estimator_filters=8, classifier_filters=(8, 16, 32), classifier_dense=32,
        classifier_dropout=0.0, weight_hidden=(8,), train_limit=1200, test_limit=200,
        weight_train_images=400, sweep_step=33,
        restoration=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8),
        estimator=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8),
        classifier=StageConfig(epochs=3, batch_size=32, learning_rate=0.004),
        weight_net=StageConfig(epochs=2, batch_size=64)),
    # The CPU reproduction: full 45k CIFAR train set, 1000 test images, narrower nets, short schedules.
    "small": Preset(
        name="small", patch_size=32, patch_stride=16, max_patches=100000,
        restoration_filters=32, estimator_filters=32, classifier_filters=(32, 64, 128), classifier_dense=256,
        classifier_dropout=0.3, weight_hidden=(16, 16),
        weight_train_images=10000,
        restoration=StageConfig(epochs=5, batch_size=32, steps_per_epoch=500, learning_rate=0.0005),
        estimator=StageConfig(epochs=5, batch_size=32, steps_per_epoch=500),
        classifier=StageConfig(epochs=12, batch_size=128),
        weight_net=StageConfig(epochs=20, batch_size=128)),
    # The paper's setting as far as it is known (64 filters, 64x64 patches, full schedules): for a GPU.
    "paper": Preset(name="paper"),
}


def get_preset(name: str, **overrides) -> Preset:
    """A copy of a preset; ``overrides`` set top-level fields (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    preset = Preset.from_dict(PRESETS[name].to_dict())  # deep copy: stage configs are mutable
    for key, value in overrides.items():
        if value is not None:
            setattr(preset, key, value)
    return preset
