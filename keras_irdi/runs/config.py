"""A run: its config (stored in the manifest), its strategy and determinism, and the data its stages read.

Everything here happens before a stage trains: ``open_run`` checks every path and option of the command
first, so a typo fails in seconds and leaves no run directory behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_irdi.runs.directory import RunDir
from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError, MissingError
from keras_irdi.datasets import get_dataset
from keras_irdi.preset_sections import Preset
from keras_irdi.presets import get_preset
from keras_irdi.tfenv import MAX_SEED



@dataclass
class RuntimeConfig:
    """Where this machine keeps the data and how it trains. Not part of the experiment: no stage records
    it, so a run reopened elsewhere (other paths, another strategy) keeps every trained stage."""

    data_dir: str | None = None  # the dataset's local copy (--data-dir; None: CIFAR's download cache)
    clean_dirs: list | None = None
    strategy: str = "default"


@dataclass
class RunConfig:
    """Everything that defines a run -- the experiment (degradation, dataset, preset, seed) and the
    runtime; stored in the manifest so every later step reads it back."""

    degradation: str = "jpeg"
    dataset: str = "cifar10"
    preset: Preset = field(default_factory=lambda: get_preset("small"))
    seed: int = 0
    # Resolved by open_run (never "auto"); None until then: the preset's. Part of the conv stages' identity.
    precision: str | None = None
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """The config a manifest stored."""
        d = dict(d)
        preset = Preset.from_dict(d.pop("preset"))
        runtime = dict(d.pop("runtime", {}))
        if "cifar_dir" in runtime:  # manifests written before --data-dir named it by CIFAR
            runtime["data_dir"] = runtime.pop("cifar_dir")
        runtime = RuntimeConfig(**runtime)
        return cls(**d, preset=preset, runtime=runtime)

    def validate(self) -> None:
        from keras_irdi.preset_sections import check_precision

        get_degradation(self.degradation)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"seed must be a whole number in 0..{MAX_SEED}, got {self.seed!r}; pass --seed N")
        if self.precision is not None:
            check_precision(self.precision)
        get_dataset(self.dataset)


# ----------------------------------------------------------------------------------------------
# Run setup
# ----------------------------------------------------------------------------------------------
def setup_determinism(seed: int) -> None:
    """Same seed + preset on CPU gives the same metrics: seeded Python/NumPy/TF and deterministic ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


_STRATEGIES: dict = {}


def get_strategy(name: str):
    """The process's tf.distribute strategy, created once (a strategy per call would give variables and
    optimizer different owners). ``mirrored`` spans the GPUs or, on a machine without any, every logical
    CPU device; ``multiworker`` the workers of ``TF_CONFIG`` (keras_irdi.runs.cluster; it must be created
    before TensorFlow runs anything, so ``open_run`` creates it first)."""
    import tensorflow as tf

    if name not in ("default", "mirrored", "multiworker"):
        raise InputError(f"unknown strategy {name!r}; choose one of: default, mirrored, multiworker")
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _STRATEGIES:
        if name == "multiworker":
            from keras_irdi.runs.cluster import make_strategy

            _STRATEGIES[name] = make_strategy()
        else:
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            _STRATEGIES[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
    return _STRATEGIES[name]


def open_run(run_dir, config: RunConfig | None = None, precision: str | None = None,
             **runtime) -> tuple[RunDir, RunConfig]:
    """Create a run (config given) or reopen one (config read from its manifest).

    Reopening with another degradation or dataset is refused: every stage would be invalid. A new
    preset or seed is accepted and recorded; `irdi train` then retrains the stages it affects.
    ``runtime`` (data_dir, clean_dirs, strategy) replaces the run's runtime fields that are given.
    ``precision`` (``--precision``; ``auto`` follows this machine) else the config's, else the run's while its
    preset is unchanged, else the preset's; resolved here and recorded with the machine it was chosen on.
    """
    run = RunDir(run_dir)
    created = not run.path.exists()
    stored = run.manifest().get("config")
    stored_cfg = None
    if stored is not None:
        stored_cfg = RunConfig.from_dict(stored)
        if config is not None:
            new = config.to_dict()
            for key in ("degradation", "dataset"):
                if new[key] != stored[key]:
                    raise InputError(
                        f"{run.path} was created with {key}={json.dumps(stored[key])[:200]}, not "
                        f"{json.dumps(new[key])[:200]}; use another --run-dir, or the same options")
        if config is None:
            config = stored_cfg
        else:  # a new experiment on the same machine: the run's data locations unless the config has its own
            config.runtime = _replace_given(stored_cfg.runtime, dataclasses.asdict(config.runtime))
    elif config is None:
        config = RunConfig()
    config.runtime = _replace_given(config.runtime, runtime)
    same_preset = stored_cfg is not None and stored_cfg.preset.name == config.preset.name
    requested = precision or config.precision or (stored_cfg.precision if same_preset else None) \
        or config.preset.precision
    if config.runtime.strategy == "multiworker":
        # Before TensorFlow runs anything (collectives are configured at start-up); from here only the
        # chief writes into the run directory.
        from keras_irdi.runs.cluster import ClusterRunDir

        run = ClusterRunDir(run.path, get_strategy("multiworker"))
    from keras_irdi.models.precision import cpu_info, emulation_note, resolve_precision

    config.precision = resolve_precision(requested)  # may ask for GPUs: after the cluster's start-up
    note = emulation_note(config.precision)
    if note:
        print(note, file=sys.stderr)
    # Everything the command needs is checked before anything is written: a typo in a path fails in
    # seconds and leaves no run directory behind (or an existing one untouched).
    config.validate()
    check_sources(config)
    try:
        run.ensure_writable()
    except PermissionError:
        if created:
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    from keras_irdi.runs.lock import lock_run

    if run.chief:  # one process (one cluster: its chief) at a time per run directory
        lock_run(run.path)
    import keras
    import tensorflow as tf

    from keras_irdi.runs.provenance import SCHEMA_VERSION, code_commit, typed_command

    commands = run.manifest().get("commands", []) + [{
        "command": typed_command(), "commit": code_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": cpu_info(), "precision": {"requested": requested, "resolved": config.precision}}]
    run.update_manifest(schema_version=SCHEMA_VERSION, config=config.to_dict(), commands=commands, versions={
        "keras_irdi": __import__("keras_irdi").__version__, "commit": code_commit(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "python": platform.python_version()})
    return run, config


def _replace_given(runtime: RuntimeConfig, values: dict) -> RuntimeConfig:
    return dataclasses.replace(runtime, **{k: v for k, v in values.items() if v is not None})


def check_sources(config: RunConfig) -> None:
    """Fail now, not after an hour of training, if the dataset or a clean-photo folder is unusable.

    Loads one image of each split (seconds; CIFAR downloads through keras.datasets only when no local copy is
    configured, as the first stage would) and checks that every --clean-dir folder exists and holds image files.
    """
    from keras_irdi.data.images import IMAGE_EXTENSIONS

    get_dataset(config.dataset).load(config.runtime.data_dir, limit_train=1, limit_test=1)
    for folder in map(Path, config.runtime.clean_dirs or ()):
        if not folder.is_dir():
            raise MissingError(f"--clean-dir {folder} is not a folder; pass folders of clean photos")
        if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir() if p.is_file()):
            raise MissingError(f"--clean-dir {folder} holds no image files "
                                    f"({', '.join(sorted(IMAGE_EXTENSIONS))})")


def _array_hash(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def load_classification_data(run: RunDir, config: RunConfig) -> dict:
    """The dataset's train/val/test split for this run; records source and hash in the manifest."""
    p = config.preset
    data = get_dataset(config.dataset).load(config.runtime.data_dir, limit_train=p.data.train_limit,
                                            limit_test=p.evaluation.test_limit)
    n_val = max(1, int(round(len(data["x_train"]) * p.data.val_fraction)))
    out = {"x_train": data["x_train"][:-n_val], "y_train": data["y_train"][:-n_val],
           "x_val": data["x_train"][-n_val:], "y_val": data["y_train"][-n_val:],
           "x_test": data["x_test"], "y_test": data["y_test"], "class_names": list(data["class_names"])}
    run.update_manifest(class_names=out["class_names"], input_size=int(out["x_train"].shape[1]),
                        data={"source": data["source"], "sha256": data["sha256"],
                              "train": len(out["x_train"]), "val": n_val, "test": len(out["x_test"])})
    return out


def load_patches(run: RunDir, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Uint8 patches (train, val) for the restoration net and the level estimator.

    ``preset.patches.source``: clean-photo patches (the paper), the run's CIFAR training images (the domain the
    two nets are evaluated on; validation on the CIFAR validation split), or both concatenated.
    """
    from keras_irdi.data.images import default_clean_images, extract_patches, load_image_folder

    p, clean_dirs = config.preset.patches, config.runtime.clean_dirs
    train, val = [], []
    if p.source in ("photos", "both"):
        images = load_image_folder(clean_dirs) if clean_dirs else default_clean_images()
        patches = extract_patches(images, size=p.size, stride=p.stride, augment=True,
                                  max_patches=p.max_patches, seed=config.seed)
        n_val = max(1, len(patches) // 20)
        train.append(patches[:-n_val])
        val.append(patches[-n_val:])
        run.update_manifest(data={"clean_dirs": clean_dirs or "scikit-image bundled photos",
                                  "clean_images": len(images), "patches": len(patches),
                                  "patches_sha256": _array_hash(patches)})
    if p.source in ("cifar", "both"):
        d = load_classification_data(run, config)
        if d["x_train"].shape[1] != p.size and p.source == "both":
            raise InputError(f"patches.source 'both' needs patches.size {d['x_train'].shape[1]} (the CIFAR "
                             f"image size), got {p.size}")
        train.append(d["x_train"])
        val.append(d["x_val"])
    return np.concatenate(train), np.concatenate(val)
