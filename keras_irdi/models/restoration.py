"""Restoration network (IRCNN-style, [15] of the paper): dilated 1-2-3-4-3-2-1 body, residual learning."""
import keras
from keras import layers

from keras_irdi.models._body import dilated_body


def build_restoration_net(filters: int = 64, zero_init_residual: bool = True,
                          name: str = "restoration") -> keras.Model:
    """Degraded image in [0,1] -> restored image in [0,1], any HxW.

    The body predicts the degradation residual, which is subtracted from the input (IRCNN); the
    output is clipped to [0,1] so the classifiers always see valid images (ReLU(max_value=1) is a
    plain Keras layer, so the model saves and exports without custom code).

    ``zero_init_residual`` starts the last conv at zero, i.e. the net starts as the identity and can
    only learn corrections: with a random last layer a short (CPU) schedule ends *below* the
    degraded input's PSNR (docs/DECISIONS.md).
    """
    degraded = keras.Input(shape=(None, None, 3), name="degraded")
    residual = dilated_body(degraded, filters, 3, prefix="res",
                            last_initializer="zeros" if zero_init_residual else "he_normal")
    restored = layers.Subtract(name="remove_residual")([degraded, residual])
    restored = layers.ReLU(max_value=1.0, name="clip_0_1")(restored)
    return keras.Model(degraded, restored, name=name)
