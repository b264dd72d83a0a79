"""Ensemble-weight network: estimated level (and, optionally, what the members predict) -> member weights.

The paper's net maps the level alone to (w_org, w_res). The journal version (Endo et al., TCSVT 2021) also
sees features of the restored image, so two images at one level can be weighted differently; here those
features are the members' own confidence (``features="confidence"``). A net may mix more than the paper's two
members (e.g. Cla(deg) as a third); its member ids travel inside the saved model (``EnsembleMembers``), so
every tool that loads it knows what to feed it.
"""
import keras
from keras import layers, ops

from keras_irdi.network_ids import WEIGHT_FEATURES

PAPER_MEMBERS = ("seq_org", "seq_res")  # Proposed's two classifiers on the restored image (Fig. 1-(d))


@keras.saving.register_keras_serializable(package="keras_irdi")
class EnsembleMembers(layers.Layer):
    """Identity on the weights; its config names the network each weight column belongs to."""

    def __init__(self, members=PAPER_MEMBERS, **kwargs):
        super().__init__(**kwargs)
        self.members = tuple(members)

    def call(self, weights):
        return weights

    def get_config(self):
        return {**super().get_config(), "members": list(self.members)}


@keras.saving.register_keras_serializable(package="keras_irdi")
class ConfidenceFeatures(layers.Layer):
    """(B, members, classes) probabilities -> (B, 2 * members): each member's top probability and its
    normalised entropy. Two numbers per member say how sure it is, without the class identity a net trained
    on a few thousand held-out images would overfit to."""

    def call(self, probs):
        top = ops.max(probs, axis=-1)
        n_classes = ops.cast(ops.shape(probs)[-1], probs.dtype)
        entropy = -ops.sum(probs * ops.log(ops.clip(probs, 1e-7, 1.0)), axis=-1) / ops.log(n_classes)
        return ops.concatenate([top, entropy], axis=-1)


def build_weight_net(unit: float = 1.0, hidden=(16, 16), members=PAPER_MEMBERS, features: str = "level",
                     num_classes: int = 10, name: str = "weight_net") -> keras.Model:
    """Normalised level (estimator output) [+ member probabilities] -> one weight per member, summing to one.

    ``unit`` rescales the estimator's output onto [0,1] over the level range (1 for JPEG's QF/100,
    255/50 for sigma/255) so the same small MLP works for every degradation. Softmax guarantees the
    paper's constraints by construction, for any input, in or out of range. With ``features`` other than
    "level" the net takes a second input, ``member_probs`` (B, members, classes), in ``members`` order.
    """
    if features not in WEIGHT_FEATURES:
        raise ValueError(f"features must be one of {WEIGHT_FEATURES}, got {features!r}")
    level = keras.Input(shape=(1,), name="level")
    inputs = [level]
    x = layers.Rescaling(unit, name="to_unit_range")(level)
    if features != "level":
        probs = keras.Input(shape=(len(members), num_classes), name="member_probs")
        inputs.append(probs)
        f = (ConfidenceFeatures(name="confidence")(probs) if features == "confidence"
             else layers.Flatten(name="flat_probs")(probs))
        x = layers.Concatenate(name="level_and_features")([x, f])
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="tanh", name=f"hidden{i + 1}")(x)
    weights = layers.Dense(len(members), activation="softmax", name="softmax")(x)
    weights = EnsembleMembers(members, name="weights")(weights)
    return keras.Model(inputs if len(inputs) > 1 else level, weights, name=name)


def weight_net_members(weight_net: keras.Model) -> tuple:
    """The member ids a weight net mixes, in its weight columns' order."""
    for layer in getattr(weight_net, "layers", ()):
        if isinstance(layer, EnsembleMembers):
            return layer.members
    return PAPER_MEMBERS  # a net without the record is the paper's two-member net


def needs_member_probs(weight_net: keras.Model) -> bool:
    """True if the net reads the members' probabilities as well as the level."""
    return len(getattr(weight_net, "inputs", ())) > 1
