"""Ensemble-weight network: estimated level -> (w_org, w_res), a 2-way softmax."""
import keras
from keras import layers


def build_weight_net(unit: float = 1.0, hidden=(16, 16), name: str = "weight_net") -> keras.Model:
    """Normalised level (estimator output) -> two weights in [0,1] that sum to one.

    ``unit`` rescales the estimator's output onto [0,1] over the level range (1 for JPEG's QF/100,
    255/50 for sigma/255) so the same small MLP works for every degradation. Softmax guarantees the
    paper's constraints by construction, for any input, in or out of range.
    """
    level = keras.Input(shape=(1,), name="level")
    x = layers.Rescaling(unit, name="to_unit_range")(level)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="tanh", name=f"hidden{i + 1}")(x)
    weights = layers.Dense(2, activation="softmax", name="weights")(x)
    return keras.Model(level, weights, name=name)
