"""The dilated 7-layer body shared by the restoration net and the level estimator.

Both follow the authors' lab code: 3x3 convolutions with dilation 1,2,3,4,3,2,1, he_normal, no batch
normalisation (the paper omits it). One function so the two networks cannot drift apart.
"""
import keras
import tensorflow as tf
from keras import layers
from tensorflow.python.util import _pywrap_util_port

DILATIONS = (1, 2, 3, 4, 3, 2, 1)


@keras.saving.register_keras_serializable(package="keras_irdi")
class DilatedConv2D(layers.Conv2D):
    """``Conv2D`` whose dilated convolution is one oneDNN op instead of TF's space-to-batch wrapper.

    ``tf.nn.convolution`` (Keras's path) pads and reshuffles the batch around every dilated convolution.
    With oneDNN on (``tfenv.load_tensorflow``) ``tf.nn.conv2d`` takes ``dilations`` directly and gives the
    same numbers faster forward and backward (bench/results/dilated_conv.json; docs/DECISIONS.md).
    Without oneDNN, TF's CPU kernels have no dilated gradient, so the layer keeps Keras's path there.
    The weights and config are a plain ``Conv2D``'s.
    """

    def convolution_op(self, inputs, kernel):
        if max(self.dilation_rate) == 1 or self.data_format != "channels_last" \
                or not _pywrap_util_port.IsMklEnabled():
            return super().convolution_op(inputs, kernel)
        return tf.nn.conv2d(inputs, kernel, strides=(1, *self.strides, 1), padding=self.padding.upper(),
                            dilations=(1, *self.dilation_rate, 1))


def dilated_body(x, filters: int, out_channels: int, prefix: str, last_initializer="he_normal"):
    """Six ReLU conv layers then a linear conv to ``out_channels`` (receptive field 33x33)."""
    for i, rate in enumerate(DILATIONS[:-1]):
        x = DilatedConv2D(filters, 3, padding="same", dilation_rate=rate, activation="relu",
                          kernel_initializer="he_normal", name=f"{prefix}_conv{i + 1}")(x)
    return DilatedConv2D(out_channels, 3, padding="same", dilation_rate=DILATIONS[-1],
                         kernel_initializer=last_initializer, name=f"{prefix}_conv{len(DILATIONS)}")(x)
