"""The paper's four training stages (section 3.2) and the one-command pipeline.

The stages are declared in ``keras_irdi.stage_registry`` (what each reads, is built on and is trained by); what a
stage records to be skipped or retrained is in ``stage_configs.py``, the weight net's trainer in
``weight_net_stage.py``. Each stage reads the run's resolved config from the manifest, trains one network with
Adamax, and saves it atomically into the run directory; later stages load earlier ones frozen. ``irdi train``
(``keras_irdi/commands/train.py``) is the command over the functions here; the run setup is in ``runs/config.py``,
the shared fit loop in ``fitting.py``.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from keras_irdi.models.forward import restore_array
from keras_irdi.models.precision import float32_copy
from keras_irdi.runs.directory import QUALITY_GATE_FILE, RunDir
from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError
from keras_irdi.training.fitting import Summary, fit_stage
from keras_irdi.preset_sections import Preset
from keras_irdi.runs.config import RunConfig, load_classification_data, load_patches, setup_determinism
from keras_irdi.stage_registry import get_stage, stage_names
from keras_irdi.training.stage_configs import (classifier_stage, expected_stage_config, stage_inputs,
                                               stage_precision, strategy_scope, training_stages)

log = logging.getLogger("keras_irdi")

# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatchNetSpec:
    """What differs between the two patch nets; ``_train_patch_net`` is the same loop for both."""

    stage: str
    target: str                                  # what patch_pairs pairs the degraded patch with
    section: Callable[[Preset], object]          # the preset's section for this net (width, loss, schedule)
    build: Callable[[object], object]            # the network, from its section
    loss: Callable[[object], object]
    metrics: tuple
    report: Callable[..., dict]                  # (model, val_ds, fit's last logs, config) -> extra metrics


def _psnr_or_mse(section):
    from keras_irdi.models import PSNRLoss

    return PSNRLoss(section.psnr_cap_db) if section.loss == "psnr" else "mse"


def _build_restoration(section):
    from keras_irdi.models import build_restoration_net

    return build_restoration_net(section.filters)


def _build_estimator(section):
    from keras_irdi.models import build_level_estimator

    return build_level_estimator(section.filters)


RESTORATION = PatchNetSpec(
    "restoration", target="clean", section=lambda p: p.restoration, build=_build_restoration,
    loss=_psnr_or_mse, metrics=(),
    report=lambda model, val_ds, final, config: _restoration_gain(model, val_ds))
ESTIMATOR = PatchNetSpec(
    "estimator", target="level", section=lambda p: p.estimator, build=_build_estimator,
    loss=lambda p: "mse", metrics=("mae",),
    report=lambda model, val_ds, final, config: {
        "val_level_mae": final["val_mae"] * get_degradation(config.degradation).scale})


def train_restoration(run: RunDir, config: RunConfig, stage: str = "restoration") -> dict:
    """Stage 1: restoration net on patches, MSE (paper) or capped-PSNR loss to the clean patch."""
    return _train_patch_net(run, config, RESTORATION)


def train_estimator(run: RunDir, config: RunConfig, stage: str = "estimator") -> dict:
    """Stage 2: level estimator, MSE on the normalised level (QF/100, sigma/255)."""
    return _train_patch_net(run, config, ESTIMATOR)


def _train_patch_net(run: RunDir, config: RunConfig, spec: PatchNetSpec) -> dict:
    from keras_irdi.data.pipelines import patch_pairs

    summary = Summary(run, spec.stage)
    setup_determinism(config.seed)
    section = spec.section(config.preset.for_degradation(config.degradation))
    cfg = section.train
    if not cfg.steps_per_epoch:
        raise InputError(f"the preset's {spec.stage}.train config needs steps_per_epoch (patches are drawn as a "
                         "stream)")
    from keras_irdi.models import precision

    if (get_stage(spec.stage).dilated and stage_precision(config, spec.stage) == "bfloat16"
            and not precision.bf16_trains_dilated_convs()):
        raise InputError(f"{spec.stage} cannot train in bfloat16 on this CPU: without AVX-512 TensorFlow has no "
                         "bfloat16 gradient for its dilated convolutions; rerun with --precision float32")
    train_patches, val_patches = load_patches(run, config)

    def train_epochs(epochs):
        return patch_pairs(train_patches, config.degradation, cfg.batch_size, spec.target, seed=config.seed,
                           epochs=epochs, steps=cfg.steps_per_epoch)

    # Validation: one fixed degraded copy (fixed seed, one pass) so epochs are comparable.
    val_ds = patch_pairs(val_patches, config.degradation, cfg.batch_size, spec.target, seed=config.seed + 1,
                         shuffle=False).cache()
    with strategy_scope(config, spec.stage):
        model = spec.build(section)
    final = fit_stage(run, spec.stage, model, train_epochs, val_ds, cfg, loss=spec.loss(section), clock=summary.clock,
                      seed=config.seed, metrics=list(spec.metrics))
    model = float32_copy(model)  # the gate is fitted on, and the run keeps, what serving runs
    metrics = {"loss": final["loss"], "val_loss": final["val_loss"], **spec.report(model, val_ds, final, config)}
    extra = {}
    if spec.stage == "restoration" and section.quality_gate:
        from keras_irdi.models.restoration_gate import alpha_for

        gate = _fit_quality_gate(model, config, val_patches, section)
        extra[QUALITY_GATE_FILE] = {str(q): a for q, a in gate.items()}
        metrics.update({f"gate_share_qf{q}": alpha_for(gate, q) for q in (10, 50, 90, 95, 98)})
    run.save_stage(spec.stage, model, expected_stage_config(config, spec.stage), extra_json=extra)
    return summary.done(metrics)


def _fit_quality_gate(model, config: RunConfig, val_patches, section) -> dict:
    """The gate on the validation patches and, when the net trained on CIFAR only, the run's clean photos
    (--clean-dir, else scikit-image's): photos it never saw."""
    from keras_irdi.data.images import default_clean_images, load_image_folder
    from keras_irdi.training.quality_gate import fit_quality_gate

    photos = []
    if config.preset.patches.source == "cifar":
        dirs = config.runtime.clean_dirs
        photos = load_image_folder(dirs) if dirs else default_clean_images()
    return fit_quality_gate(model, val_patches, photos, step=section.quality_gate_step,
                            report=log.info)


def _restoration_gain(model, val_ds) -> dict:
    """CPSNR of degraded vs restored validation patches: the restoration gain, in dB."""
    from keras_irdi.metrics import mean_cpsnr

    deg, res, clean = [], [], []
    for x, y in val_ds:
        deg.append(x.numpy())
        res.append(np.asarray(model(x, training=False)))  # direct, as in models.forward.restore_array
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


def _clean_images(run: RunDir, config: RunConfig, d: dict):
    return d["x_train"], None, d["x_val"]


def _degraded_images(run: RunDir, config: RunConfig, d: dict):
    """Degraded afresh in the pipeline every epoch; validation is one fixed degraded copy."""
    from keras_irdi.data.pipelines import degrade_array

    return d["x_train"], config.degradation, degrade_array(d["x_val"], config.degradation, config.seed + 1)[0]


def _restored_images(run: RunDir, config: RunConfig, d: dict):
    """One degraded copy of each image (a random level each), restored once by the frozen net."""
    from keras_irdi.data.pipelines import degrade_array

    restoration = run.load_stage("restoration")
    return (restore_array(restoration, degrade_array(d["x_train"], config.degradation, config.seed)[0]), None,
            restore_array(restoration, degrade_array(d["x_val"], config.degradation, config.seed + 1)[0]))


# what a classifier is trained on -> (training images, the degradation the pipeline applies to them,
# validation images)
CLASSIFIER_DATA = {"clean": _clean_images, "degraded": _degraded_images, "restored": _restored_images}


def train_classifier_stage(run: RunDir, config: RunConfig, stage: str) -> dict:
    """A registered classifier stage: what it is trained on, and whether it is the warm-start base."""
    s = get_stage(stage)
    return train_classifier(run, config, s.trained_on, base=s.warm_start_only)


def train_classifier(run: RunDir, config: RunConfig, data: str, callbacks=(), base: bool = False) -> dict:
    """Stage 3: the VGG-like classifier on clean, degraded or restored CIFAR (cross-entropy).

    With a ``finetune`` schedule (small) the three classifiers share one start: a base trained on clean
    images (``base=True``, with ``classifier.train``), then each fine-tunes it on its own data with
    ``finetune`` -- Cla(org) on clean images too, so it is not trained less than the two
    it competes with (docs/DECISIONS.md: fine-tuned from a finished Cla(org), Cla(jpg) beat it even
    at QF 100). Without it (paper) each trains from scratch with ``classifier.train``.

    Restored images are precomputed once per run (one random level per image, then the frozen
    restoration net) rather than restored inside the pipeline: restoring costs about as much as a
    classifier step, and would be repeated every epoch. Geometric augmentation is then applied to the
    restored images each epoch (docs/DECISIONS.md).
    """
    from keras_irdi.data.pipelines import classification_batches
    from keras_irdi.models import build_classifier

    stage = classifier_stage(data, base)  # an unknown ``data``: one line
    p = config.preset
    if base and (data != "clean" or not p.warm_start):
        raise InputError(f"--base trains the clean-image base of warm-start presets; preset {p.name} "
                         f"{'trains every classifier from scratch' if not p.warm_start else 'needs --data clean'}")
    run.require(*stage_inputs(config, stage))
    summary = Summary(run, stage)
    setup_determinism(config.seed)
    warm = p.warm_start and not base
    net, cfg = p.classifier, p.schedule(stage)
    d = load_classification_data(run, config)
    x_train, kind, x_val = CLASSIFIER_DATA[data](run, config, d)

    def train_epochs(epochs):
        return classification_batches(x_train, d["y_train"], cfg.batch_size, kind=kind,
                                      augment=p.classifier_augmentation(stage), seed=config.seed, epochs=epochs)

    val_ds = classification_batches(x_val, d["y_val"], 256, augment=False, shuffle=False).cache()
    with strategy_scope(config, stage):
        model = build_classifier(num_classes=len(d["class_names"]), filters=net.filters,
                                 dense_units=net.dense, dropout=net.dropout,
                                 input_shape=d["x_train"].shape[1:], name=stage)
        if warm:  # same architecture, so the base's weights load as they are
            model.set_weights(run.load_stage(stage_names(warm_start_only=True)[0]).get_weights())
    final = fit_stage(run, stage, model, train_epochs, val_ds, cfg, loss="sparse_categorical_crossentropy",
                      clock=summary.clock, seed=config.seed,
                      metrics=["accuracy"], extra_callbacks=callbacks)
    run.save_stage(stage, float32_copy(model), expected_stage_config(config, stage), export=not base)
    return summary.done({"loss": final["loss"], "accuracy": final["accuracy"],
                         "val_loss": final["val_loss"], "val_accuracy": final["val_accuracy"]})


# ----------------------------------------------------------------------------------------------
# All stages
# ----------------------------------------------------------------------------------------------
def reuse_stage(run: RunDir, source, stage: str, expected: dict) -> bool:
    """Copy ``stage`` from another run directory if it was trained with exactly ``expected`` config.

    Cla(org) does not depend on the degradation, so a second run (another degradation, same data, preset
    and seed) can take it from the first instead of spending the longest stage again. The manifest
    records where it came from and what it cost there.
    """
    other = RunDir(source)
    if not other.has_stage(stage, expected):
        return False
    if not run.chief:  # a multiworker cluster: the chief copies it
        return True
    tmp = run.path / f"{stage}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(other.stage_dir(stage), tmp)
    shutil.rmtree(run.stage_dir(stage), ignore_errors=True)
    tmp.replace(run.stage_dir(stage))
    # Where it came from, relative to this run (a path of this machine would mean nothing elsewhere).
    source = os.path.relpath(other.path.resolve(), run.path.resolve())
    entry = dict(other.manifest().get("stages", {}).get(stage, {}), reused_from=source)
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
        problem = run.stage_dir(stage).exists() and (run.stage_dir(stage) / "config.json").exists() \
            and run.stage_problem(stage)
        if problem:
            print(f"[{stage}] {problem}; retraining it", flush=True)
        if reuse_from is not None and reuse_stage(run, reuse_from, stage, expected):
            continue
        if force:  # a forced retrain must not resume an old interrupted attempt
            shutil.rmtree(run.backup_dir(stage), ignore_errors=True)
        done[stage] = get_stage(stage).train_function()(run, config, stage)
    stages_run = run.manifest().get("stages", {})
    # What training this run cost, stage by stage, wherever each stage was trained (a reused stage counts
    # what it took in its source run), so resumed, reused and re-evaluated runs report the same budget.
    run.update_manifest(training_seconds=round(sum(s.get("seconds", 0) for s in stages_run.values()), 1),
                        command_training_seconds=round(time.time() - start, 1))
    return done
