"""Run presets as dataclasses: smoke (CI), small (the 2-core CPU reproduction), paper (a GPU).

A run's resolved preset is written to its manifest and read back by every later stage, so `evaluate/`
never has to be told what `train/` did. Command-line options override single fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from keras_irdi.errors import InputError


SCHEDULES = ("constant", "warmup_cosine")
OPTIMIZERS = ("adamax", "adam")
AUGMENTATIONS = ("paper", "flip_shift", "none")
PATCH_SOURCES = ("photos", "cifar", "both")


@dataclass
class StageConfig:
    """Schedule of one training stage: epochs x steps, batch size, optimizer and learning-rate schedule.

    ``warmup_cosine`` rises linearly from ``learning_rate * warmup_start`` to ``learning_rate`` over
    ``warmup_epochs`` epochs, then follows a cosine to 0 at the last step: on the 2-core budget it took
    the half-width classifier from 0.52 (constant rate, 6 epochs) to 0.82 (16 epochs) (docs/DECISIONS.md).
    """

    epochs: int
    batch_size: int
    steps_per_epoch: int | None = None  # None: one pass over the data per epoch
    learning_rate: float = 0.002  # old Keras' Adamax default, the authors' (Keras 2) setting
    optimizer: str = "adamax"  # the paper's; "adam" only where a measurement shows Adamax cannot learn
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    warmup_start: float = 0.1  # warm-up starts at this fraction of learning_rate

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")


STAGE_CONFIGS = ("restoration", "estimator", "classifier", "classifier_finetune", "weight_net")
# Fields older manifests carry that no longer mean anything (read and dropped, so old runs stay readable).
RETIRED_FIELDS = ("restored_copies",)
# Fields added after runs were made, with the value those runs had. A stage config leaves such a field out
# while it has that value, so the stages of older runs still match and are not retrained.
ADDED_FIELDS = {"restoration_psnr_cap_db": 50.0}


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
    # The paper's augmentation (zoom, shear, flip, rotation, shifts) or flips + reflected shifts only.
    classifier_augmentation: str = "paper"
    # Cla(deg) and Cla(res) start from Cla(org)'s weights and train `classifier_finetune` (small);
    # the paper trains all three from scratch with `classifier`.
    warm_start: bool = False
    weight_hidden: tuple = (16, 16)
    # What the restoration net and the estimator train on: clean-photo patches (the paper), CIFAR
    # training images (the domain they are evaluated on), or both.
    patch_source: str = "photos"
    # The restoration net's loss: "mse" (the paper) or "psnr" (mean per-image log MSE, models/restoration.py),
    # each image's PSNR capped at `restoration_psnr_cap_db` (50 dB: the runs made before it was a field).
    restoration_loss: str = "mse"
    restoration_psnr_cap_db: float = 50.0
    # CIFAR subset sizes (None = everything available).
    train_limit: int | None = None
    test_limit: int | None = None
    val_fraction: float = 0.05
    # Images (with augmentation and a random level each) the weight net is trained on.
    weight_train_images: int = 20000
    # Level step of the sweep (1 = every level, as the paper's interval means need).
    sweep_step: int = 1
    restoration: StageConfig = field(default_factory=lambda: StageConfig(epochs=50, batch_size=64, steps_per_epoch=1000))
    estimator: StageConfig = field(default_factory=lambda: StageConfig(epochs=50, batch_size=64, steps_per_epoch=1000))
    classifier: StageConfig = field(default_factory=lambda: StageConfig(epochs=200, batch_size=128))
    classifier_finetune: StageConfig = field(default_factory=lambda: StageConfig(epochs=50, batch_size=128))
    weight_net: StageConfig = field(default_factory=lambda: StageConfig(epochs=30, batch_size=128, learning_rate=0.002))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        d = {k: v for k, v in d.items() if k not in RETIRED_FIELDS}
        for key in STAGE_CONFIGS:
            if key in d:  # runs made before a stage config existed keep the default
                d[key] = StageConfig(**d[key])
        for key in ("classifier_filters", "weight_hidden"):
            d[key] = tuple(d[key])
        return cls(**d)

    def __post_init__(self):
        for name, value, choices in (("classifier_augmentation", self.classifier_augmentation, AUGMENTATIONS),
                                     ("patch_source", self.patch_source, PATCH_SOURCES),
                                     ("restoration_loss", self.restoration_loss, ("mse", "psnr"))):
            if value not in choices:
                raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")

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
        classifier_dropout=0.0, classifier_augmentation="flip_shift", warm_start=True, patch_source="both",
        restoration_loss="psnr",
        weight_hidden=(8,), train_limit=1200, test_limit=200, weight_train_images=400, sweep_step=33,
        restoration=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8),
        estimator=StageConfig(epochs=1, batch_size=16, steps_per_epoch=8, optimizer="adam", learning_rate=0.001),
        classifier=StageConfig(epochs=3, batch_size=32, learning_rate=0.004),
        classifier_finetune=StageConfig(epochs=1, batch_size=32, learning_rate=0.002),
        weight_net=StageConfig(epochs=2, batch_size=64)),
    # The CPU reproduction: full 45k CIFAR train set, 1000 test images, narrower nets, short schedules.
    # Recipe measured on this 2-core machine (docs/DECISIONS.md, "small recipe"): warm-up + cosine
    # Adamax, flips + shifts, no dropout, warm-started Cla(deg)/Cla(res); patch nets on CIFAR images
    # with Adam (Adamax learned half as fast, nothing at all on photo patches in the same steps); the
    # estimator at 3e-3 for 5000 steps (4000 steps: validation MAE 4.9 QF against 9.2 at 1e-3 for 3000
    # steps; the fifth thousand is paid for by the faster dilated convolution, DilatedConv2D).
    "small": Preset(
        name="small", patch_size=32, patch_stride=16, max_patches=100000,
        restoration_filters=32, estimator_filters=32, classifier_filters=(32, 64, 128), classifier_dense=256,
        classifier_dropout=0.0, classifier_augmentation="flip_shift", warm_start=True,
        weight_hidden=(16, 16), weight_train_images=10000, patch_source="cifar", restoration_loss="psnr",
        restoration_psnr_cap_db=30.0,
        restoration=StageConfig(epochs=6, batch_size=32, steps_per_epoch=500, learning_rate=0.001,
                                optimizer="adam", schedule="warmup_cosine", warmup_epochs=0.2),
        estimator=StageConfig(epochs=10, batch_size=32, steps_per_epoch=500, learning_rate=0.003,
                              optimizer="adam", schedule="warmup_cosine", warmup_epochs=0.2),
        classifier=StageConfig(epochs=14, batch_size=128, learning_rate=0.006, schedule="warmup_cosine",
                               warmup_epochs=0.5, warmup_start=0.083),
        classifier_finetune=StageConfig(epochs=3, batch_size=128, learning_rate=0.003,
                                        schedule="warmup_cosine", warmup_epochs=0.25),
        weight_net=StageConfig(epochs=20, batch_size=128)),
    # The paper's setting as far as it is known (64 filters, 64x64 patches, full schedules): for a GPU.
    "paper": Preset(name="paper"),
}


def get_preset(name: str, **overrides) -> Preset:
    """A copy of a preset; ``overrides`` set top-level fields (None values are ignored)."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    preset = Preset.from_dict(PRESETS[name].to_dict())  # deep copy: stage configs are mutable
    for key, value in overrides.items():
        if value is not None:
            setattr(preset, key, value)
    return preset
