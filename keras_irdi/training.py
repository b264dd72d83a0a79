"""The paper's four training stages (section 3.2) and the one-command pipeline.

Each stage reads the run's resolved config from the manifest, trains one network with Adamax, and
saves it atomically into the run directory. Later stages load earlier ones frozen. The scripts in
``train/`` are thin CLIs over the functions here.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_irdi.artifacts import BASE_STAGE, STAGES, RunDir, as_json
from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError, MissingError
from keras_irdi.presets import ADDED_FIELDS, Preset, get_preset

log = logging.getLogger("keras_irdi")

DATASETS = ("cifar10", "cifar100")
CLASSIFIER_STAGES = {"clean": "cla_org", "degraded": "cla_deg", "restored": "cla_res"}


@dataclass
class RunConfig:
    """Everything that defines a run; stored in the manifest so every later step reads it back."""

    degradation: str = "jpeg"
    dataset: str = "cifar10"
    preset: Preset = field(default_factory=lambda: get_preset("small"))
    seed: int = 0
    cifar_dir: str | None = None
    clean_dirs: list | None = None
    strategy: str = "default"

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["preset"] = self.preset.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        d["preset"] = Preset.from_dict(d["preset"])
        return cls(**d)

    def validate(self) -> None:
        get_degradation(self.degradation)
        if self.dataset not in DATASETS:
            raise InputError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")


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
# Keras 3's fit() cannot train under MultiWorkerMirroredStrategy: it averages every scalar log with
# strategy.reduce("MEAN", v, axis=0), which fails on scalars, and its symbolic build reduces a PerReplica
# batch in eager mode (keras-team/keras#20585; docs/DECISIONS.md has the 20-line reproduction).
MULTIWORKER_BLOCKED = ("--strategy multiworker cannot train with Keras {version}: its fit() fails under "
                       "MultiWorkerMirroredStrategy (keras-team/keras#20585); use --strategy mirrored for "
                       "several devices of one machine")


def get_strategy(name: str):
    """The process's tf.distribute strategy, created once (a strategy per call would give variables and
    optimizer different owners). ``mirrored`` spans the GPUs or, on a machine without any, every logical
    CPU device."""
    import keras
    import tensorflow as tf

    if name not in ("default", "mirrored", "multiworker"):
        raise InputError(f"unknown strategy {name!r}; choose one of: default, mirrored, multiworker")
    if name == "multiworker":
        raise InputError(MULTIWORKER_BLOCKED.format(version=keras.__version__))
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _STRATEGIES:
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        _STRATEGIES[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
    return _STRATEGIES[name]


def open_run(run_dir, config: RunConfig | None = None, **overrides) -> tuple[RunDir, RunConfig]:
    """Create a run (config given) or reopen one (config read from its manifest).

    Reopening with another degradation or dataset is refused: every stage would be invalid. A new
    preset or seed is accepted and recorded; `train/all.py` then retrains the stages it affects.
    """
    run = RunDir(run_dir)
    created = not run.path.exists()
    stored = run.manifest().get("config")
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
        else:  # data locations are not part of the new options: keep the run's
            for key in ("cifar_dir", "clean_dirs", "strategy"):
                if getattr(config, key) is None:
                    setattr(config, key, getattr(stored_cfg, key))
    elif config is None:
        config = RunConfig()
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
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
    import keras
    import tensorflow as tf

    run.update_manifest(config=config.to_dict(), versions={
        "keras_irdi": __import__("keras_irdi").__version__, "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "python": platform.python_version()})
    return run, config


def check_sources(config: RunConfig) -> None:
    """Fail now, not after an hour of training, if the CIFAR source or a clean-photo folder is unusable.

    Loads CIFAR once (seconds; downloads through keras.datasets only when no local copy is configured, as
    the first stage would) and checks that every --clean-dir folder exists and holds image files.
    """
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.data.images import IMAGE_EXTENSIONS

    load_cifar(config.dataset, cifar_dir=config.cifar_dir, limit_train=1, limit_test=1)
    for folder in map(Path, config.clean_dirs or ()):
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
    """CIFAR train/val/test split for this run; records source and hash in the manifest."""
    from keras_irdi.data.cifar import load_cifar

    p = config.preset
    data = load_cifar(config.dataset, cifar_dir=config.cifar_dir, limit_train=p.train_limit,
                      limit_test=p.test_limit)
    n_val = max(1, int(round(len(data["x_train"]) * p.val_fraction)))
    out = {"x_train": data["x_train"][:-n_val], "y_train": data["y_train"][:-n_val],
           "x_val": data["x_train"][-n_val:], "y_val": data["y_train"][-n_val:],
           "x_test": data["x_test"], "y_test": data["y_test"], "class_names": list(data["class_names"])}
    run.update_manifest(class_names=out["class_names"], input_size=int(out["x_train"].shape[1]),
                        data={"cifar_source": data["source"], "cifar_sha256": data["sha256"],
                              "train": len(out["x_train"]), "val": n_val, "test": len(out["x_test"])})
    return out


def load_patches(run: RunDir, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Uint8 patches (train, val) for the restoration net and the level estimator.

    ``patch_source``: clean-photo patches (the paper), the run's CIFAR training images (the domain the
    two nets are evaluated on; validation on the CIFAR validation split), or both concatenated.
    """
    from keras_irdi.data.images import default_clean_images, extract_patches, load_image_folder

    p = config.preset
    train, val = [], []
    if p.patch_source in ("photos", "both"):
        images = load_image_folder(config.clean_dirs) if config.clean_dirs else default_clean_images()
        patches = extract_patches(images, size=p.patch_size, stride=p.patch_stride, augment=True,
                                  max_patches=p.max_patches, seed=config.seed)
        n_val = max(1, len(patches) // 20)
        train.append(patches[:-n_val])
        val.append(patches[-n_val:])
        run.update_manifest(data={"clean_dirs": config.clean_dirs or "scikit-image bundled photos",
                                  "clean_images": len(images), "patches": len(patches),
                                  "patches_sha256": _array_hash(patches)})
    if p.patch_source in ("cifar", "both"):
        d = load_classification_data(run, config)
        if d["x_train"].shape[1] != p.patch_size and p.patch_source == "both":
            raise InputError(f"patch_source 'both' needs patch_size {d['x_train'].shape[1]} (the CIFAR image "
                             f"size), got {p.patch_size}")
        train.append(d["x_train"])
        val.append(d["x_val"])
    return np.concatenate(train), np.concatenate(val)


# ----------------------------------------------------------------------------------------------
# The shared fit loop
# ----------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Summary:
    """Collects what every stage reports: one line on stdout and an entry in the manifest."""

    def __init__(self, run: RunDir, stage: str):
        self.run, self.stage, self.start = run, stage, time.time()
        self.clock = EpochClock(stage)

    def done(self, metrics: dict) -> dict:
        seconds = time.time() - self.start
        entry = {"seconds": round(seconds, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
                 "metrics": {k: float(v) for k, v in metrics.items()},
                 "epoch_seconds": self.clock.seconds, "load_avg_1min": self.clock.load}
        self.run.update_manifest(stages={self.stage: entry})
        shown = ", ".join(f"{k}={v:.4g}" for k, v in entry["metrics"].items())
        print(f"[{self.stage}] done in {seconds / 60:.1f} min: {shown}", flush=True)
        return entry


def EpochClock(stage: str):
    """A callback recording each epoch's wall time and the 1-minute load average at its end.

    A load average well above the number of training threads' cores means something else shared the
    machine, so a slow epoch says why (docs/DECISIONS.md: the first runs lost about half their time).
    """
    import keras

    class _EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.load, self._start = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._start, 1))
            self.load.append(round(os.getloadavg()[0], 2))
            print(f"[{stage}] epoch {epoch + 1}: {self.seconds[-1]:.0f} s, load average {self.load[-1]:.2f}",
                  flush=True)

    return _EpochClock()


def _backup_callback(backup_dir, stage: str):
    """BackupAndRestore keeping the previous checkpoint too (a kill during a save leaves one good copy);
    if no readable checkpoint is left, the stage restarts with a warning instead of failing forever.

    ``restore()`` runs before ``fit`` (not in ``on_train_begin``) because the training stream is built
    from the epoch the checkpoint reached: epoch e's data is a function of (seed, e), so the resumed
    stage sees exactly what an uninterrupted one would have."""
    import keras

    class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
        def restore(self, model) -> int:
            """Load the last checkpoint into ``model``; returns the number of epochs it completed."""
            self.set_model(model)
            try:
                super().on_train_begin()
            except OSError as exc:
                log.warning("backup in %s is unreadable (%s); restarting this stage from epoch 0",
                            backup_dir, exc)
                shutil.rmtree(backup_dir, ignore_errors=True)
                self._current_epoch = 0
                model._initial_epoch = 0
            done = getattr(model, "_initial_epoch", 0) or 0  # set by the restore: epochs completed
            self._current_epoch = done
            if done:
                print(f"[{stage}] resuming from epoch {done + 1} (checkpoint in {backup_dir})", flush=True)
            return done

        def on_train_begin(self, logs=None):
            pass  # restored before fit

    return SafeBackupAndRestore(str(backup_dir), save_freq="epoch", double_checkpoint=True,
                                delete_checkpoint=True)


def _epoch_seeds(seed: int):
    """Reseed the model's own random layers (dropout) from (seed, epoch) at every epoch start: their
    generator state is not in the checkpoint, so without this a resumed epoch would draw new masks."""
    import keras

    from keras_irdi.data.pipelines import seed_random_layers

    class _EpochSeeds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seed_random_layers(self.model, [seed, epoch])

    return _EpochSeeds()


def make_optimizer(stage_cfg, steps_per_epoch: int):
    """The stage's optimizer (Adamax, the paper's, unless the preset says otherwise) and its schedule."""
    import keras

    lr = stage_cfg.learning_rate
    if stage_cfg.schedule == "warmup_cosine":
        total = stage_cfg.epochs * steps_per_epoch
        warmup = min(int(round(stage_cfg.warmup_epochs * steps_per_epoch)), total - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr * stage_cfg.warmup_start if warmup else lr,
            decay_steps=max(1, total - warmup), alpha=0.0,
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    optimizer = {"adamax": keras.optimizers.Adamax, "adam": keras.optimizers.Adam}[stage_cfg.optimizer]
    return optimizer(learning_rate=lr)


def fit_stage(run: RunDir, stage: str, model, train_epochs, val_ds, stage_cfg, loss, metrics=(),
              extra_callbacks=(), clock=None, seed: int = 0):
    """Compile (Adamax by default) and fit, resumable (BackupAndRestore) and logged (CSV + TensorBoard).

    ``train_epochs(epochs)`` builds the training stream for the epochs ``(first, stop)``: a resumed
    stage asks for the epochs left, so it replays the interrupted epoch exactly.
    """
    import keras

    from keras_irdi.data.pipelines import batches_per_epoch

    total = (0, stage_cfg.epochs)
    steps = batches_per_epoch(train_epochs(total), total)
    run.log_dir().mkdir(parents=True, exist_ok=True)
    backup = run.backup_dir(stage)
    append = backup.exists()  # an interrupted attempt: its epochs stay in the log
    backup_cb = _backup_callback(backup, stage)
    with model.distribute_strategy.scope():  # the optimizer's variables live where the model's do
        model.compile(optimizer=make_optimizer(stage_cfg, steps), loss=loss, metrics=list(metrics))
        first = backup_cb.restore(model)
    csv_path = run.log_dir() / f"{stage}.csv"
    callbacks = [
        backup_cb,
        _epoch_seeds(seed),
        keras.callbacks.CSVLogger(str(csv_path), append=append),
        keras.callbacks.TensorBoard(str(run.log_dir() / "tb" / stage), write_graph=False,
                                    profile_batch=0),
        *([clock] if clock is not None else []),
        *extra_callbacks,
    ]
    if first >= stage_cfg.epochs:  # killed after the last checkpoint, before the stage was saved
        shutil.rmtree(backup, ignore_errors=True)
        return _last_logged(csv_path)
    history = model.fit(train_epochs((first, stage_cfg.epochs)), validation_data=val_ds,
                        epochs=stage_cfg.epochs, initial_epoch=first, steps_per_epoch=steps,
                        callbacks=callbacks, verbose=2 if not sys.stdout.isatty() else 1)
    return {k: v[-1] for k, v in history.history.items() if v}


def _last_logged(csv_path) -> dict:
    """The last epoch's metrics from the stage's CSV log."""
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for k, v in rows[-1].items() if k != "epoch"}


# The preset fields each stage depends on: changing a field retrains only the stages that use it
# (and, through the stage configs they record, the stages trained on top of them).
_CIFAR_FIELDS = ("train_limit", "val_fraction")
_PATCH_FIELDS = _CIFAR_FIELDS + ("patch_size", "patch_stride", "max_patches", "patch_source")
_CLASSIFIER_FIELDS = _CIFAR_FIELDS + ("classifier_filters", "classifier_dense", "classifier_dropout",
                                      "classifier_augmentation", "classifier")
_FINETUNE_FIELDS = _CLASSIFIER_FIELDS + ("warm_start", "classifier_finetune")
STAGE_FIELDS = {
    "restoration": _PATCH_FIELDS + ("restoration_filters", "restoration_loss", "restoration_psnr_cap_db",
                                    "restoration"),
    "estimator": _PATCH_FIELDS + ("estimator_filters", "estimator"),
    "cla_base": _CLASSIFIER_FIELDS,
    "cla_org": _FINETUNE_FIELDS,
    "cla_deg": _FINETUNE_FIELDS,
    "cla_res": _FINETUNE_FIELDS,
    "weight_net": _CIFAR_FIELDS + ("classifier_augmentation", "weight_hidden", "weight_train_images",
                                   "weight_net"),
}
STAGE_INPUTS = {"cla_res": ("restoration",), "weight_net": ("restoration", "estimator", "cla_org", "cla_res")}


def stage_inputs(config: RunConfig, stage: str) -> tuple:
    """The trained stages a stage is built on (warm-started classifiers also start from the base)."""
    warm = (BASE_STAGE,) if config.preset.warm_start and stage in CLASSIFIER_STAGES.values() else ()
    return warm + STAGE_INPUTS.get(stage, ())


def training_stages(config: RunConfig) -> tuple:
    """The stages a run trains, in order: the six delivered ones, plus the shared base of warm starts."""
    if not config.preset.warm_start:
        return STAGES
    i = STAGES.index("cla_org")
    return STAGES[:i] + (BASE_STAGE,) + STAGES[i:]


def _stage_config(config: RunConfig, stage: str, **extra) -> dict:
    """What a stage's artefact depends on; `train/all.py` retrains it when this changes.

    Includes the configs of the frozen stages it was trained on, so retraining the restoration net
    also invalidates Cla(res) and the weight net.
    """
    preset = config.preset.to_dict()
    out = {"stage": stage, "degradation": config.degradation, "dataset": config.dataset, "seed": config.seed,
           "preset": {k: preset[k] for k in STAGE_FIELDS[stage]
                      if k not in ADDED_FIELDS or preset[k] != ADDED_FIELDS[k]}, **extra}
    if stage in ("cla_base", "cla_org"):  # never see a degradation: one serves runs of every degradation
        del out["degradation"]
    for upstream in stage_inputs(config, stage):
        out[f"input_{upstream}"] = expected_stage_config(config, upstream)
    return out


@contextlib.contextmanager
def _scope(config: RunConfig):
    with get_strategy(config.strategy).scope():
        yield


# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------
def train_restoration(run: RunDir, config: RunConfig) -> dict:
    """Stage 1: restoration net on clean-photo patches, MSE to the clean patch."""
    return _train_patch_net(run, config, "restoration")


def train_estimator(run: RunDir, config: RunConfig) -> dict:
    """Stage 2: level estimator, MSE on the normalised level (QF/100, sigma/255)."""
    return _train_patch_net(run, config, "estimator")


def _train_patch_net(run: RunDir, config: RunConfig, stage: str) -> dict:
    from keras_irdi.data.pipelines import patch_pairs
    from keras_irdi.models import PSNRLoss, build_level_estimator, build_restoration_net

    summary = _Summary(run, stage)
    setup_determinism(config.seed)
    p = config.preset
    cfg = p.restoration if stage == "restoration" else p.estimator
    train_patches, val_patches = load_patches(run, config)
    target = "clean" if stage == "restoration" else "level"
    if not cfg.steps_per_epoch:
        raise InputError(f"the preset's {stage} config needs steps_per_epoch (patches are drawn as a stream)")

    def train_epochs(epochs):
        return patch_pairs(train_patches, config.degradation, cfg.batch_size, target, seed=config.seed,
                           epochs=epochs, steps=cfg.steps_per_epoch)

    # Validation: one fixed degraded copy (fixed seed, one pass) so epochs are comparable.
    val_ds = patch_pairs(val_patches, config.degradation, cfg.batch_size, target, seed=config.seed + 1,
                         shuffle=False).cache()
    with _scope(config):
        if stage == "restoration":
            model = build_restoration_net(p.restoration_filters)
        else:
            model = build_level_estimator(p.estimator_filters)
    psnr = stage == "restoration" and p.restoration_loss == "psnr"
    loss = PSNRLoss(p.restoration_psnr_cap_db) if psnr else "mse"
    final = fit_stage(run, stage, model, train_epochs, val_ds, cfg, loss=loss, clock=summary.clock, seed=config.seed,
                      metrics=["mae"] if stage == "estimator" else [])
    metrics = {"loss": final["loss"], "val_loss": final["val_loss"]}
    if stage == "restoration":
        metrics.update(_restoration_gain(model, val_ds))
    else:
        metrics["val_level_mae"] = final["val_mae"] * get_degradation(config.degradation).scale
    run.save_stage(stage, model, _stage_config(config, stage))
    return summary.done(metrics)


def _restoration_gain(model, val_ds) -> dict:
    """CPSNR of degraded vs restored validation patches: the restoration gain, in dB."""
    from keras_irdi.metrics import mean_cpsnr

    deg, res, clean = [], [], []
    for x, y in val_ds:
        deg.append(x.numpy())
        # A direct call, not predict_on_batch: under a MirroredStrategy that would feed the whole batch to
        # every replica and return it once per replica.
        res.append(np.asarray(model(x, training=False)))
        clean.append(y.numpy())
    to8 = lambda a: np.round(np.concatenate(a) * 255)  # noqa: E731
    clean, deg, res = to8(clean), to8(deg), to8(res)
    # Patches the degradation left untouched (sigma ~ 0) have an infinite PSNR and would make both means
    # inf; the gain is measured on the patches that were actually degraded.
    changed = np.any(clean != deg, axis=(1, 2, 3))
    if not changed.any():
        return {"val_psnr_degraded": float("inf"), "val_psnr_restored": mean_cpsnr(clean, res),
                "val_psnr_patches": 0}
    return {"val_psnr_degraded": mean_cpsnr(clean[changed], deg[changed]),
            "val_psnr_restored": mean_cpsnr(clean[changed], res[changed]),
            "val_psnr_patches": int(changed.sum())}


def restore_array(restoration, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Frozen restoration of a uint8 array -> float32 [0,1] (what Seq(res) and Proposed feed on)."""
    out = np.empty(images_uint8.shape, np.float32)
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i:i + batch_size].astype(np.float32) / 255.0
        out[i:i + batch_size] = restoration.predict_on_batch(x)
    return out


def train_classifier(run: RunDir, config: RunConfig, data: str, callbacks=(), base: bool = False) -> dict:
    """Stage 3: the VGG-like classifier on clean, degraded or restored CIFAR (cross-entropy).

    With ``warm_start`` (small) the three classifiers share one schedule: a base trained on clean
    images (``base=True``, the `classifier` config), then each fine-tunes it on its own data with
    `classifier_finetune` -- Cla(org) on clean images too, so it is not trained less than the two
    it competes with (docs/DECISIONS.md: fine-tuned from a finished Cla(org), Cla(jpg) beat it even
    at QF 100). Without it (paper) each trains from scratch with `classifier`.

    Restored images are precomputed once per run (one random level per image, then the frozen
    restoration net) rather than restored inside the pipeline: restoring costs about as much as a
    classifier step, and would be repeated every epoch. Geometric augmentation is then applied to the
    restored images each epoch (docs/DECISIONS.md).
    """
    from keras_irdi.data.pipelines import classification_batches, degrade_array
    from keras_irdi.models import build_classifier

    if data not in CLASSIFIER_STAGES:
        raise InputError(f"--data must be one of {', '.join(CLASSIFIER_STAGES)}, got {data!r}")
    p = config.preset
    if base and (data != "clean" or not p.warm_start):
        raise InputError(f"--base trains the clean-image base of warm-start presets; preset {p.name} "
                         f"{'trains every classifier from scratch' if not p.warm_start else 'needs --data clean'}")
    stage = BASE_STAGE if base else CLASSIFIER_STAGES[data]
    run.require(*stage_inputs(config, stage))
    summary = _Summary(run, stage)
    setup_determinism(config.seed)
    warm = p.warm_start and not base
    cfg = p.classifier_finetune if warm else p.classifier
    d = load_classification_data(run, config)
    kind = config.degradation if data == "degraded" else None
    x_train, x_val = d["x_train"], d["x_val"]
    if data == "restored":
        restoration = run.load_stage("restoration")
        x_train = restore_array(restoration, degrade_array(x_train, config.degradation, config.seed)[0])
        x_val = restore_array(restoration, degrade_array(x_val, config.degradation, config.seed + 1)[0])

    def train_epochs(epochs):
        return classification_batches(x_train, d["y_train"], cfg.batch_size, kind=kind,
                                      augment=p.classifier_augmentation, seed=config.seed, epochs=epochs)

    if data == "degraded":  # a fixed degraded validation copy, comparable across epochs
        x_val = degrade_array(x_val, config.degradation, config.seed + 1)[0]
    val_ds = classification_batches(x_val, d["y_val"], 256, augment=False, shuffle=False).cache()
    with _scope(config):
        model = build_classifier(num_classes=len(d["class_names"]), filters=p.classifier_filters,
                                 dense_units=p.classifier_dense, dropout=p.classifier_dropout,
                                 input_shape=d["x_train"].shape[1:], name=stage)
        if warm:  # same architecture, so the base's weights load as they are
            model.set_weights(run.load_stage(BASE_STAGE).get_weights())
    final = fit_stage(run, stage, model, train_epochs, val_ds, cfg, loss="sparse_categorical_crossentropy",
                      clock=summary.clock, seed=config.seed,
                      metrics=["accuracy"], extra_callbacks=callbacks)
    run.save_stage(stage, model, _stage_config(config, stage, data=data), export=not base)
    return summary.done({"loss": final["loss"], "accuracy": final["accuracy"],
                         "val_loss": final["val_loss"], "val_accuracy": final["val_accuracy"]})


def ensemble_inputs(stages: dict, images_uint8: np.ndarray, batch_size: int = 256) -> dict:
    """What the frozen part of Proposed computes, once: estimated level, p_org and p_res.

    Training the weight net on these cached outputs is exactly training it inside the Proposed
    composite with every other weight frozen (same forward pass, same gradients), without running
    four frozen networks again every epoch (tests/test_training.py checks the equivalence).
    """
    from keras_irdi.forward import SharedForward

    forward = SharedForward(stages)
    parts = [forward.proposed_inputs(images_uint8[i:i + batch_size].astype(np.float32) / 255.0)
             for i in range(0, len(images_uint8), batch_size)]
    return {"level": np.concatenate([p["level"] for p in parts]),
            "p_org": np.concatenate([p["seq_org"] for p in parts]),
            "p_res": np.concatenate([p["seq_res"] for p in parts])}


def weight_training_model(weight_net):
    """(level, p_org, p_res) -> the Proposed network's output, for training the weight net alone."""
    import keras

    from keras_irdi.models.composites import WeightedMix

    level = keras.Input((1,), name="level")
    p_org = keras.Input((None,), name="p_org")
    p_res = keras.Input((None,), name="p_res")
    probs = WeightedMix(name="probabilities")([weight_net(level), p_org, p_res])
    return keras.Model([level, p_org, p_res], probs, name="proposed_tail")


def train_weight_net(run: RunDir, config: RunConfig) -> dict:
    """Stage 4: the weight net, cross-entropy of the weighted probability, all other weights frozen."""
    import tensorflow as tf

    from keras_irdi.data.pipelines import _batched, degrade_array
    from keras_irdi.models import build_weight_net

    needed = ("restoration", "estimator", "cla_org", "cla_res")
    run.require(*needed)
    summary = _Summary(run, "weight_net")
    setup_determinism(config.seed)
    p, cfg = config.preset, config.preset.weight_net
    d = load_classification_data(run, config)
    stages = run.load_stages(*needed)
    rng = np.random.default_rng(config.seed)
    idx = rng.choice(len(d["x_train"]), size=min(p.weight_train_images, len(d["x_train"])), replace=False)
    # Augmented, then degraded with a random level per image, as for the classifiers (section 4.1).
    x_train, _ = degrade_array(d["x_train"][idx], config.degradation, config.seed + 2,
                               augment=p.classifier_augmentation)
    x_val, _ = degrade_array(d["x_val"], config.degradation, config.seed + 1)
    tr, va = ensemble_inputs(stages, x_train), ensemble_inputs(stages, x_val)

    def as_ds(inputs, labels, shuffle, epochs=(0, 1)):
        x = (inputs["level"], inputs["p_org"], inputs["p_res"])
        ds = _batched(x, labels, cfg.batch_size, config.seed, shuffle=shuffle, drop_remainder=False, epochs=epochs)
        return ds.map(lambda batch, key: batch)

    with _scope(config):
        weight_net = build_weight_net(unit=get_degradation(config.degradation).unit, hidden=p.weight_hidden)
        model = weight_training_model(weight_net)
    final = fit_stage(run, "weight_net", model, lambda epochs: as_ds(tr, d["y_train"][idx], True, epochs),
                      as_ds(va, d["y_val"], False), cfg, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], clock=summary.clock, seed=config.seed)
    run.save_stage("weight_net", weight_net, _stage_config(config, "weight_net"))
    return summary.done({"loss": final["loss"], "accuracy": final["accuracy"],
                         "val_accuracy": final["val_accuracy"]})


# ----------------------------------------------------------------------------------------------
# All stages
# ----------------------------------------------------------------------------------------------
STAGE_FUNCTIONS = {
    "restoration": lambda run, cfg: train_restoration(run, cfg),
    "estimator": lambda run, cfg: train_estimator(run, cfg),
    "cla_base": lambda run, cfg: train_classifier(run, cfg, "clean", base=True),
    "cla_org": lambda run, cfg: train_classifier(run, cfg, "clean"),
    "cla_deg": lambda run, cfg: train_classifier(run, cfg, "degraded"),
    "cla_res": lambda run, cfg: train_classifier(run, cfg, "restored"),
    "weight_net": lambda run, cfg: train_weight_net(run, cfg),
}


def expected_stage_config(config: RunConfig, stage: str) -> dict:
    extra = {s: {"data": d} for d, s in CLASSIFIER_STAGES.items()} | {BASE_STAGE: {"data": "clean"}}
    extra = extra.get(stage, {})
    return as_json(_stage_config(config, stage, **extra))


def reuse_stage(run: RunDir, source, stage: str, expected: dict) -> bool:
    """Copy ``stage`` from another run directory if it was trained with exactly ``expected`` config.

    Cla(org) does not depend on the degradation, so a second run (another degradation, same data, preset
    and seed) can take it from the first instead of spending the longest stage again. The manifest
    records where it came from and what it cost there.
    """
    other = RunDir(source)
    if not other.has_stage(stage, expected):
        return False
    tmp = run.path / f"{stage}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(other.stage_dir(stage), tmp)
    shutil.rmtree(run.stage_dir(stage), ignore_errors=True)
    tmp.replace(run.stage_dir(stage))
    entry = dict(other.manifest().get("stages", {}).get(stage, {}), reused_from=str(other.path.resolve()))
    run.update_manifest(stages={stage: entry})
    print(f"[{stage}] reused from {other.path} (same config; trained there in {entry.get('seconds', '?')} s)",
          flush=True)
    return True


def train_all(run: RunDir, config: RunConfig, force: bool = False, stages=None, reuse_from=None) -> dict:
    """Every stage in dependency order; a stage whose artefact exists with the same config is skipped,
    one trained with the same config in the run ``reuse_from`` is copied from there."""
    start = time.time()
    done = {}
    for stage in stages or training_stages(config):
        expected = expected_stage_config(config, stage)
        if not force and run.has_stage(stage, expected):
            print(f"[{stage}] up to date, skipped (use --force to retrain)", flush=True)
            continue
        if reuse_from is not None and reuse_stage(run, reuse_from, stage, expected):
            continue
        if force:  # a forced retrain must not resume an old interrupted attempt
            shutil.rmtree(run.backup_dir(stage), ignore_errors=True)
        done[stage] = STAGE_FUNCTIONS[stage](run, config)
    stages_run = run.manifest().get("stages", {})
    # What training this run cost, stage by stage, wherever each stage was trained (a reused stage counts
    # what it took in its source run), so resumed, reused and re-evaluated runs report the same budget.
    run.update_manifest(training_seconds=round(sum(s.get("seconds", 0) for s in stages_run.values()), 1),
                        command_training_seconds=round(time.time() - start, 1))
    return done
