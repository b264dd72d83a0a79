"""VGG-like CIFAR classifier of the paper: SpatialDropout2D and 2x2 stride-2 "convolution pooling"."""
import keras
from keras import layers, regularizers


def build_classifier(num_classes: int = 10, filters=(64, 128, 256), dense_units: int = 512,
                     dropout: float = 0.5, l2: float = 1e-6, input_shape=(32, 32, 3),
                     name: str = "classifier", batchnorm: bool = False) -> keras.Model:
    """Image in [0,1] -> class probabilities.

    Three stages of two 3x3 convs, each preceded by SpatialDropout2D whose rate doubles per stage
    (dropout/8, /4, /2, as in the lab's template); between stages a 2x2 stride-2 valid conv replaces
    max pooling. Head (our decision, docs/DECISIONS.md): global average pooling, one dense layer with
    dropout, softmax -- it accepts any input size and has far fewer weights than a flatten head.
    ``batchnorm`` (not the paper's: it has none) normalises every conv before its ReLU: more accuracy per epoch,
    not per second on a CPU, and a clean classifier that fails under heavy JPEG much as the paper's does
    (experiments/wide_classifier_probe).
    """
    reg = regularizers.L2(l2)
    conv = dict(kernel_initializer="he_normal", kernel_regularizer=reg)

    def conv_relu(x, f, size, padding, strides, name):
        if not batchnorm:
            return layers.Conv2D(f, size, strides=strides, padding=padding, activation="relu", name=name, **conv)(x)
        x = layers.Conv2D(f, size, strides=strides, padding=padding, use_bias=False, name=name, **conv)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    image = keras.Input(shape=input_shape, name="image")
    x = image
    for stage, f in enumerate(filters):
        rate = dropout / 2 ** (len(filters) - stage)
        x = layers.SpatialDropout2D(rate, name=f"drop{stage + 1}")(x)
        x = conv_relu(x, f, 3, "same", 1, f"conv{stage + 1}a")
        x = conv_relu(x, f, 3, "same", 1, f"conv{stage + 1}b")
        if stage < len(filters) - 1:
            x = conv_relu(x, f, 2, "valid", 2, f"pool{stage + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc", **conv)(x)
    x = layers.Dropout(dropout, name="fc_drop")(x)
    probs = layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)  # as the loss
    return keras.Model(image, probs, name=name)
