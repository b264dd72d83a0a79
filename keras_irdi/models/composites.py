"""The six networks of the paper's tables, assembled from frozen, already trained sub-models.

Every composite takes a degraded batch on the 0..255 scale (uint8 or float, (B, H, W, 3)) and returns
class probabilities; Proposed also returns the estimated level (in the degradation's own units) and the
two ensemble weights. The mixing rules live in two small layers used by the composites, by the weight
net's training model and by the evaluation sweep alike, so the rule exists once. Proposed's members (the
networks it mixes) are the ones its weight net names (``models.weights.weight_net_members``): the paper's
Seq(org) and Seq(res), or more.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError
from keras_irdi.models.weights import needs_member_probs, weight_net_members
from keras_irdi.network_ids import NETWORKS


@keras.saving.register_keras_serializable(package="keras_irdi")
class WeightedMix(layers.Layer):
    """p = sum_k w_k * p_k over the members (the paper: w_org * p_org + w_res * p_res), Proposed's last step.

    Inputs: weights (B, members) and the members' probabilities stacked as (B, members, classes)."""

    def call(self, inputs):
        weights, member_probs = inputs
        return ops.sum(ops.expand_dims(weights, -1) * member_probs, axis=1)


@keras.saving.register_keras_serializable(package="keras_irdi")
class MaxConfidence(layers.Layer):
    """Ens(Cla): per sample, the probability vector of whichever classifier is more confident."""

    def call(self, inputs):
        p_a, p_b = inputs
        a_wins = ops.max(p_a, axis=-1, keepdims=True) >= ops.max(p_b, axis=-1, keepdims=True)
        return ops.where(a_wins, p_a, p_b)


def freeze(model: keras.Model) -> keras.Model:
    """Frozen sub-models: composites never train what an earlier stage trained."""
    model.trainable = False
    return model


def _input(input_shape, name="degraded"):
    image = keras.Input(shape=input_shape, name=name, dtype="float32")
    return image, layers.Rescaling(1.0 / 255.0, name="to_unit")(image)


def classifier_alone(classifier, name, input_shape=(32, 32, 3)) -> keras.Model:
    """Cla(org) / Cla(deg): the classifier fed the degraded image directly."""
    image, x = _input(input_shape)
    return keras.Model(image, freeze(classifier)(x), name=name)


def sequential(restoration, classifier, name, input_shape=(32, 32, 3)) -> keras.Model:
    """Seq(org) / Seq(res): restoration, then a classifier."""
    image, x = _input(input_shape)
    restored = freeze(restoration)(x)
    return keras.Model(image, freeze(classifier)(restored), name=name)


def ensemble_max(cla_org, cla_deg, input_shape=(32, 32, 3)) -> keras.Model:
    """Ens(Cla), Fig. 1-(c): Cla(org) and Cla(deg), decision by the maximum probability."""
    image, x = _input(input_shape)
    probs = MaxConfidence(name="max_confidence")([freeze(cla_org)(x), freeze(cla_deg)(x)])
    return keras.Model(image, probs, name="ens_cla")


def stack_members(probs: list, name: str = "member_probs"):
    """[(B, classes)] * members -> (B, members, classes), the layout WeightedMix and the weight net read."""
    n_classes = probs[0].shape[-1]
    rows = [layers.Reshape((1, n_classes), name=f"{name}_{i}")(p) for i, p in enumerate(probs)]
    return rows[0] if len(rows) == 1 else layers.Concatenate(axis=1, name=name)(rows)


def proposed(stages: dict, degradation: str, input_shape=(32, 32, 3)) -> keras.Model:
    """Fig. 1-(d): restore once, classify the restored image, weight the members by the estimated level.

    The members are those the weight net names: Seq(org) and Seq(res) in the paper; Cla(deg) (fed the degraded
    image) may join them. A weight net that reads features also gets the members' probabilities."""
    deg = get_degradation(degradation)
    weight_net = stages["weight_net"]
    members = weight_net_members(weight_net)
    for stage in required_stages("proposed"):  # Cla(deg) too, when it is not a member: nothing trains here
        if stage != "weight_net":
            freeze(stages[stage])
    image, x = _input(input_shape)
    restored = freeze(stages["restoration"])(x)
    fed = {"seq_org": lambda: freeze(stages["cla_org"])(restored),
           "seq_res": lambda: freeze(stages["cla_res"])(restored),
           "cla_deg": lambda: freeze(stages["cla_deg"])(x)}
    member_probs = stack_members([fed[m]() for m in members])
    level = freeze(stages["estimator"])(x)  # the estimator sees the degraded image, not the restored one
    weights = weight_net([level, member_probs] if needs_member_probs(weight_net) else level)
    probs = WeightedMix(name="probabilities")([weights, member_probs])
    level_units = layers.Rescaling(deg.scale, name="level")(level)
    weights = layers.Identity(name="weights")(weights)
    return keras.Model(image, {"probabilities": probs, "level": level_units, "weights": weights},
                       name="proposed")


def proposed_tail(weight_net) -> keras.Model:
    """(level, member probabilities) -> Proposed's output: what the weight net trains inside, every other
    network's output cached (training.ensemble_inputs), so the frozen nets do not run again every epoch."""
    n_members = len(weight_net_members(weight_net))
    level = keras.Input((1,), name="level")
    member_probs = keras.Input((n_members, None), name="member_probs")
    weights = weight_net([level, member_probs] if needs_member_probs(weight_net) else level)
    probs = WeightedMix(name="probabilities")([weights, member_probs])
    return keras.Model([level, member_probs], probs, name="proposed_tail")


def build_composite(name: str, stages: dict, degradation: str, input_shape=(32, 32, 3)) -> keras.Model:
    """One of NETWORKS from a dict of loaded stage models (keys as in keras_irdi.runs.directory.STAGES)."""
    s = stages
    builders = {
        "cla_org": lambda: classifier_alone(s["cla_org"], "cla_org", input_shape),
        "cla_deg": lambda: classifier_alone(s["cla_deg"], "cla_deg", input_shape),
        "seq_org": lambda: sequential(s["restoration"], s["cla_org"], "seq_org", input_shape),
        "seq_res": lambda: sequential(s["restoration"], s["cla_res"], "seq_res", input_shape),
        "ens_cla": lambda: ensemble_max(s["cla_org"], s["cla_deg"], input_shape),
        "proposed": lambda: proposed(s, degradation, input_shape),
    }
    if name not in builders:
        raise InputError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    return builders[name]()


def required_stages(name: str) -> tuple:
    """Which trained stages a composite needs (so a missing one can be named before building)."""
    return {"cla_org": ("cla_org",), "cla_deg": ("cla_deg",), "seq_org": ("restoration", "cla_org"),
            "seq_res": ("restoration", "cla_res"), "ens_cla": ("cla_org", "cla_deg"),
            "proposed": ("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net")}[name]
