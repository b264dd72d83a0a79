"""Stage 4: the ensemble-weight net, trained inside Proposed on the frozen stages' cached outputs."""
from __future__ import annotations

import numpy as np

from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError
from keras_irdi.runs.config import RunConfig, load_classification_data, setup_determinism
from keras_irdi.runs.directory import RunDir
from keras_irdi.training.fitting import Summary, fit_stage
from keras_irdi.training.stage_configs import expected_stage_config, stage_inputs, strategy_scope


def ensemble_inputs(stages: dict, images_uint8: np.ndarray, members, batch_size: int = 256) -> dict:
    """What the frozen part of Proposed computes, once: the estimated level and the members' probabilities.

    Training the weight net on these cached outputs is exactly training it inside the Proposed
    composite with every other weight frozen (same forward pass, same gradients), without running
    four frozen networks again every epoch (tests/training/test_stages.py checks the equivalence).
    """
    from keras_irdi.models.forward import SharedForward

    forward = SharedForward(stages)
    parts = [forward.member_inputs(images_uint8[i:i + batch_size].astype(np.float32) / 255.0, members)
             for i in range(0, len(images_uint8), batch_size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("level", "member_probs")}


def weight_net_images(config: RunConfig, d: dict) -> tuple:
    """(train images, train labels, monitor images, monitor labels), degraded with a random level each.

    ``train_split="train"`` (the paper, section 4.1): ``train_images`` of the classifiers' training images,
    augmented, one level each, monitored on the validation split. ``"validation"``: the held-out validation
    split, ``levels_per_image`` copies of each image at independent random levels; its last fifth (by image)
    monitors the fit."""
    from keras_irdi.data.pipelines import degrade_array

    net = config.preset.weight_net
    if net.train_split == "train":
        rng = np.random.default_rng(config.seed)
        idx = rng.choice(len(d["x_train"]), size=min(net.train_images, len(d["x_train"])), replace=False)
        x_train, _ = degrade_array(d["x_train"][idx], config.degradation, config.seed + 2, augment=net.augmentation)
        x_val, _ = degrade_array(d["x_val"], config.degradation, config.seed + 1)
        return x_train, d["y_train"][idx], x_val, d["y_val"]
    n_fit = len(d["x_val"]) - max(1, len(d["x_val"]) // 5)
    if n_fit < 1:
        raise InputError(f"weight_net.train_split='validation' needs a validation split of 2 or more images, "
                         f"got {len(d['x_val'])}; raise data.val_fraction")
    copies = [degrade_array(d["x_val"][:n_fit], config.degradation, config.seed + 2 + k)[0]
              for k in range(net.levels_per_image)]
    x_val, _ = degrade_array(d["x_val"][n_fit:], config.degradation, config.seed + 1)
    return (np.concatenate(copies), np.tile(d["y_val"][:n_fit], net.levels_per_image), x_val,
            d["y_val"][n_fit:])


def train_weight_net(run: RunDir, config: RunConfig, stage: str = "weight_net") -> dict:
    """Stage 4: the weight net, cross-entropy of the weighted probability, all other weights frozen."""
    from keras_irdi.data.pipelines import keyed_batches
    from keras_irdi.models import build_weight_net
    from keras_irdi.models.composites import proposed_tail

    needed = stage_inputs(config, "weight_net")
    run.require(*needed)
    summary = Summary(run, "weight_net")
    setup_determinism(config.seed)
    net = config.preset.weight_net
    cfg = net.train
    d = load_classification_data(run, config)
    stages = run.load_stages(*needed)
    x_train, y_train, x_val, y_val = weight_net_images(config, d)
    tr, va = (ensemble_inputs(stages, x, net.members) for x in (x_train, x_val))

    def as_ds(inputs, labels, shuffle, epochs=(0, 1)):
        ds = keyed_batches((inputs["level"], inputs["member_probs"]), labels, cfg.batch_size, config.seed,
                           shuffle=shuffle, drop_remainder=False, epochs=epochs)
        return ds.map(lambda batch, key: batch)

    with strategy_scope(config, "weight_net"):
        weight_net = build_weight_net(unit=get_degradation(config.degradation).unit, hidden=net.hidden,
                                      members=net.members, features=net.features,
                                      num_classes=len(d["class_names"]))
        model = proposed_tail(weight_net)
    final = fit_stage(run, "weight_net", model, lambda epochs: as_ds(tr, y_train, True, epochs),
                      as_ds(va, y_val, False), cfg, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], clock=summary.clock, seed=config.seed)
    run.save_stage("weight_net", weight_net, expected_stage_config(config, "weight_net"))
    return summary.done({"loss": final["loss"], "accuracy": final["accuracy"],
                         "val_accuracy": final["val_accuracy"]})
