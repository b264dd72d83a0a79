"""Degradation-level estimator (Uchida, Tanaka, Okutomi 2019): dilated body -> level map -> G.A.P."""
import keras
from keras import layers

from keras_irdi.models._body import dilated_body


def build_level_estimator(filters: int = 64, name: str = "estimator") -> keras.Model:
    """Degraded image in [0,1] -> normalised level (QF/100 or sigma/255), shape (batch, 1), any HxW.

    A per-pixel level map averaged globally lets one network handle any image size and makes the
    estimate an average of many local votes.
    """
    degraded = keras.Input(shape=(None, None, 3), name="degraded")
    level_map = dilated_body(degraded, filters, 1, prefix="est")
    level = layers.GlobalAveragePooling2D(name="gap", dtype="float32")(level_map)  # many votes, one float32 mean
    return keras.Model(degraded, level, name=name)
