"""The sections a preset is made of, as nested dataclasses with their checks, and the `Preset` that holds them.

A preset has one section per network (its width and its training schedule), one for the training data
and one for the sweep, as the TF Model Garden nests its experiment configs. A stage records the sections
it reads (``stage_registry``), so changing one retrains exactly the stages that read it. A run's resolved
preset goes into its manifest, read back by every later command (`irdi sweep` is never told what training did).
The named presets are in ``keras_irdi.presets``.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

from keras_irdi.errors import InputError
from keras_irdi.stage_registry import get_stage, stage_names

SCHEDULES = ("constant", "warmup_cosine")
OPTIMIZERS = ("adamax", "adam")
AUGMENTATIONS = ("paper", "flip_shift", "flip_small_shift", "flip", "none")
PATCH_SOURCES = ("photos", "cifar", "both")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")  # training precisions (models/precision.py)


@dataclass
class StageConfig:
    """Schedule of one training stage: epochs x steps, batch size, optimizer and learning-rate schedule.

    ``warmup_cosine`` rises linearly from ``learning_rate * warmup_start`` to ``learning_rate`` over
    ``warmup_epochs`` epochs, then follows a cosine to 0 at the last step (docs/DECISIONS.md, the small recipe)."""

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


def _stage(**kw):  # a StageConfig default for a dataclass field
    return field(default_factory=lambda: StageConfig(**kw))


@dataclass
class DataConfig:
    """The CIFAR training images every stage sees (None = all), and the share held out for validation."""

    train_limit: int | None = None
    val_fraction: float = 0.05


@dataclass
class PatchConfig:
    """What the restoration net and the estimator train on: clean-photo patches (the paper, section 4.1),
    CIFAR training images (the domain they are evaluated on), or both."""

    source: str = "photos"
    size: int = 64
    stride: int = 32
    max_patches: int | None = None

    def __post_init__(self):
        _check_choice("patches.source", self.source, PATCH_SOURCES)


@dataclass
class RestorationConfig:
    """The restoration net: width, loss and schedule.

    ``loss``: "mse" (the paper) or "psnr" (mean per-image log MSE, models/restoration.py), each image's
    PSNR capped at ``psnr_cap_db``, one number or one per degradation: the cap bounds the weight of the images
    a degradation barely touched, and how many of those it draws differs (blur: many, noise: few)."""

    filters: int = 64
    loss: str = "mse"
    psnr_cap_db: float | dict = 50.0
    train: StageConfig | dict = _stage(epochs=50, batch_size=64, steps_per_epoch=1000)
    # JPEG runs: after training, fit how much of the residual to apply at each quality, on images the net never
    # saw (models/restoration_gate.py), so the restoration never harms a nearly clean image; every
    # ``quality_gate_step``-th quality is fitted (1: all 100), the others take the nearest.
    quality_gate: bool = False
    quality_gate_step: int = 1

    def __post_init__(self):
        _check_choice("restoration.loss", self.loss, ("mse", "psnr"))
        if int(self.quality_gate_step) < 1:
            raise InputError(f"restoration.quality_gate_step must be >= 1, got {self.quality_gate_step}")

    def for_degradation(self, degradation: str) -> "RestorationConfig":
        """This section as a run of ``degradation`` trains it: the cap and the schedule resolved to one each (one
        per degradation: they differ in how many barely-touched images they draw and how long the net gains)."""
        return dataclasses.replace(self, psnr_cap_db=float(_resolve("restoration.psnr_cap_db", self.psnr_cap_db,
                                                                     degradation, fallback=True)),
                                   train=_resolve("restoration.train", self.train, degradation, fallback=True),
                                   quality_gate=self.quality_gate and degradation == "jpeg")  # reads JPEG's lattice


def _resolve(name: str, value, key: str, fallback: bool = False):
    """A preset value given per degradation or per stage (a dict keyed by them), for ``key``; with ``fallback``
    a missing key takes the "default" entry, else the first, warned (a new degradation is one entry)."""
    if not isinstance(value, dict):
        return value
    if key not in value:
        if not fallback:
            raise InputError(f"{name} has no value for {key!r} (it has {', '.join(value)}); add one to the preset")
        used = "default" if "default" in value else next(iter(value))
        warnings.warn(f"{name} has no value for {key!r}; using its {used!r} one (add {key!r} to the preset)")
        return value[used]
    return value[key]


@dataclass
class EstimatorConfig:
    filters: int = 64
    train: StageConfig = _stage(epochs=50, batch_size=64, steps_per_epoch=1000)


@dataclass
class ClassifierConfig:
    """The classifiers' network (the paper: 64-128-256, dense 512, dropout 0.5), augmentation and schedule.

    ``augmentation``: the paper's (zoom, shear, flip, rotation, shifts), flips + reflected shifts, or none."""

    filters: tuple = (64, 128, 256)
    dense: int = 512
    dropout: float = 0.5
    augmentation: str = "paper"
    train: StageConfig = _stage(epochs=200, batch_size=128)

    def __post_init__(self):
        _check_choice("classifier.augmentation", self.augmentation, AUGMENTATIONS)


WEIGHT_TRAIN_SPLITS = ("train", "validation")


@dataclass
class WeightNetConfig:
    """The weight net: what it mixes and reads, its hidden widths, and the images it trains on.

    ``members``: the networks Proposed mixes (the paper: Seq(org), Seq(res); ``network_ids.WEIGHT_MEMBERS``).
    ``features``: "level" (the paper), or the level plus the members' "confidence" or full "probabilities"
    (the journal version's per-image weights). ``train_split``: "train" (the paper: ``train_images`` of the
    classifiers' training images, augmented, one random level each) or "validation" (the held-out split no
    classifier trained on, ``levels_per_image`` random levels each; its last fifth monitors the fit), where
    the classifiers are not over-confident as they are on their own training images (docs/DECISIONS.md)."""

    hidden: tuple = (16, 16)
    train_images: int = 20000
    augmentation: str = "paper"
    members: tuple = ("seq_org", "seq_res")
    features: str = "level"
    train_split: str = "train"
    levels_per_image: int = 1
    train: StageConfig = _stage(epochs=30, batch_size=128, learning_rate=0.002)

    def __post_init__(self):
        from keras_irdi.network_ids import WEIGHT_FEATURES, WEIGHT_MEMBERS

        _check_choice("weight_net.augmentation", self.augmentation, AUGMENTATIONS)
        _check_choice("weight_net.features", self.features, WEIGHT_FEATURES)
        _check_choice("weight_net.train_split", self.train_split, WEIGHT_TRAIN_SPLITS)
        self.members = tuple(self.members)
        for member in self.members:
            _check_choice("weight_net.members entry", member, WEIGHT_MEMBERS)
        if len(set(self.members)) != len(self.members) or len(self.members) < 2:
            raise InputError(f"weight_net.members needs two or more different networks, got {self.members}")
        if self.levels_per_image < 1:
            raise InputError(f"weight_net.levels_per_image must be >= 1, got {self.levels_per_image}")


@dataclass
class EvalConfig:
    """The sweep: test images (None = all) and level step (1 = every level, as the interval means need)."""

    test_limit: int | None = None
    sweep_step: int = 1


@dataclass
class FinetuneConfig:
    """How Cla(org), Cla(deg) and Cla(res) continue from the shared base: schedule and augmentation.

    ``augmentation``: None keeps the base's (``classifier.augmentation``); one name for all three, or a dict keyed
    by the registry's ``finetuned`` stages (Cla(org) gains from weaker shifts: DECISIONS, "Fine-tune augmentation")."""

    augmentation: str | dict | None = None
    train: StageConfig = _stage(epochs=3, batch_size=128)

    def __post_init__(self):
        per_stage = isinstance(self.augmentation, dict)
        finetuned = stage_names(finetuned=True)
        if per_stage and set(self.augmentation) - set(finetuned):
            raise InputError(f"finetune.augmentation is keyed by stage ({', '.join(finetuned)}), got "
                             f"{', '.join(sorted(set(self.augmentation) - set(finetuned)))}")
        for value in (self.augmentation.values() if per_stage else [self.augmentation]):
            if value is not None:
                _check_choice("finetune.augmentation", value, AUGMENTATIONS)

    def for_stage(self, stage: str) -> "FinetuneConfig":
        """The fine-tune of one classifier (its augmentation resolved): what that stage trains with and records."""
        return dataclasses.replace(self, augmentation=_resolve("finetune.augmentation", self.augmentation, stage))


SECTIONS = {"data": DataConfig, "patches": PatchConfig, "restoration": RestorationConfig,
            "estimator": EstimatorConfig, "classifier": ClassifierConfig, "finetune": FinetuneConfig,
            "weight_net": WeightNetConfig, "evaluation": EvalConfig}


@dataclass
class Preset:
    """A run's experiment, one section per network (Model Garden style): a stage depends on its sections.

    ``finetune``: Cla(org), Cla(deg) and Cla(res) start from a shared base classifier (trained with
    ``classifier.train``) and continue as it says (small); None trains all three from scratch (the paper).
    """

    name: str
    precision: str = "float32"  # what its results were trained in (models/precision.py); --precision overrides
    data: DataConfig = field(default_factory=DataConfig)
    patches: PatchConfig = field(default_factory=PatchConfig)
    restoration: RestorationConfig = field(default_factory=RestorationConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    finetune: FinetuneConfig | None = None
    weight_net: WeightNetConfig = field(default_factory=WeightNetConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        check_precision(self.precision)

    @property
    def warm_start(self) -> bool:
        return self.finetune is not None

    def schedule(self, stage: str) -> StageConfig:
        """``stage``'s schedule (what --epochs overrides): its registered section's, or for a fine-tuned classifier
        of a preset without warm start ``classifier.train`` (``for_degradation`` first, if per degradation)."""
        s = get_stage(stage)
        section = "classifier" if s.finetuned and not self.warm_start else s.schedule
        return getattr(self, section).train

    def classifier_augmentation(self, stage: str) -> str:
        """A classifier stage's augmentation: its fine-tune's when that names one, else
        ``classifier.augmentation`` (the base's, and every classifier's when they train from scratch)."""
        if self.warm_start and get_stage(stage).finetuned:
            augmentation = self.finetune.for_stage(stage).augmentation
            if augmentation is not None:
                return augmentation
        return self.classifier.augmentation

    def for_stage(self, stage: str) -> "Preset":
        """The preset as ``stage`` records it: a fine-tuned classifier's own augmentation resolved, so a
        change for one classifier retrains only that one."""
        if not (self.warm_start and get_stage(stage).finetuned):
            return self
        return dataclasses.replace(self, finetune=self.finetune.for_stage(stage))

    def for_degradation(self, degradation: str) -> "Preset":
        """The preset as a run of ``degradation`` uses it (per-degradation values resolved): what its stages
        train with and record."""
        return dataclasses.replace(self, restoration=self.restoration.for_degradation(degradation))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        """A preset from its nested dict (as ``to_dict`` and every manifest write it)."""
        sections = {key: section_from_dict(key, d[key]) for key in SECTIONS if key in d}
        return cls(name=d["name"], precision=d.get("precision", "float32"), **sections)

    def describe(self) -> str:
        d = self.to_dict()
        return "\n".join([f"preset {self.name}:", f"  precision = {self.precision}"]
                         + [f"  {key} = {d[key]}" for key in SECTIONS])


def check_precision(precision: str) -> None:
    _check_choice("precision", precision, PRECISIONS)


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def section_from_dict(key: str, d: dict | None):
    """One section from its dict; a missing field takes its default."""
    if d is None:
        return None
    cls = SECTIONS[key]
    d = dict(d)
    if "train" in d:
        train = d["train"]
        per_degradation = not set(train) & {f.name for f in dataclasses.fields(StageConfig)}
        d["train"] = ({deg: StageConfig(**cfg) for deg, cfg in train.items()} if per_degradation
                      else StageConfig(**train))
    for name in ("filters", "hidden", "members"):
        if isinstance(d.get(name), list):
            d[name] = tuple(d[name])
    return cls(**d)
