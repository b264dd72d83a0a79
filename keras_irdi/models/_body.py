"""The dilated 7-layer body shared by the restoration net and the level estimator.

Both follow the authors' lab code: 3x3 convolutions with dilation 1,2,3,4,3,2,1, he_normal, no batch
normalisation (the paper omits it). One function so the two networks cannot drift apart.
"""
from keras import layers

DILATIONS = (1, 2, 3, 4, 3, 2, 1)


def dilated_body(x, filters: int, out_channels: int, prefix: str, last_initializer="he_normal"):
    """Six ReLU conv layers then a linear conv to ``out_channels`` (receptive field 33x33)."""
    for i, rate in enumerate(DILATIONS[:-1]):
        x = layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, activation="relu",
                          kernel_initializer="he_normal", name=f"{prefix}_conv{i + 1}")(x)
    return layers.Conv2D(out_channels, 3, padding="same", dilation_rate=DILATIONS[-1],
                         kernel_initializer=last_initializer, name=f"{prefix}_conv{len(DILATIONS)}")(x)
