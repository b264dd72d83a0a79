#!/usr/bin/env python
"""How fast is the patch nets' dilated body with each convolution path? -> bench/results/dilated_conv.json

The restoration net and the estimator share a 7-layer 3x3 body with dilations 1,2,3,4,3,2,1
(models/_body.py). Three builds of that body at --filters width, same weights layout:

  keras       plain keras.layers.Conv2D: tf.nn.convolution wraps every dilated layer in space-to-batch
  direct      models._body.DilatedConv2D: one tf.nn.conv2d with `dilations` (oneDNN), what the nets use
  undilated   every dilation set to 1: the same arithmetic without dilation, the ceiling

Each is timed on random images in a tf.function: inference (images/s at --batch sizes) and one training
step (forward + gradient of an MSE loss). oneDNN is on, as in every CLI (keras_irdi.tfenv); the outputs
of `keras` and `direct` are compared too.
"""
import argparse
import os
import time

from _common import add_out_option, machine_info, write_result


def build(kind: str, filters: int):
    import keras

    from keras_irdi.models._body import DILATIONS, DilatedConv2D

    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, rate in enumerate(DILATIONS):
        layer = DilatedConv2D if kind == "direct" else keras.layers.Conv2D
        x = layer(filters if i < len(DILATIONS) - 1 else 3, 3, padding="same",
                  dilation_rate=1 if kind == "undilated" else rate,
                  activation="relu" if i < len(DILATIONS) - 1 else None)(x)
    return keras.Model(inputs, x)


def images_per_second(fn, x, repeats: int) -> float:
    fn(x)  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(x)
    (out[0] if isinstance(out, list) else out).numpy()
    return round(int(x.shape[0]) * repeats / (time.perf_counter() - start), 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--filters", type=int, default=32, help="body width (the small preset's)")
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 250], help="batch sizes to time")
    ap.add_argument("--repeats", type=int, default=10)
    add_out_option(ap, "dilated_conv.json")
    args = ap.parse_args(argv)

    from keras_irdi.tfenv import load_tensorflow

    tf = load_tensorflow()
    import numpy as np

    info = machine_info()
    models = {kind: build(kind, args.filters) for kind in ("keras", "direct", "undilated")}
    models["direct"].set_weights(models["keras"].get_weights())
    results = {}
    for batch in args.batch:
        x = tf.constant(np.random.default_rng(0).random((batch, 32, 32, 3)), tf.float32)
        for kind, model in models.items():
            infer = tf.function(lambda images, m=model: m(images))

            @tf.function
            def train_step(images, m=model):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(m(images) - images))
                return tape.gradient(loss, m.trainable_variables)

            results[f"{kind}/batch{batch}"] = {"infer_images_per_s": images_per_second(infer, x, args.repeats),
                                               "train_images_per_s": images_per_second(train_step, x, args.repeats)}
            print(kind, batch, results[f"{kind}/batch{batch}"], flush=True)
    x = tf.constant(np.random.default_rng(1).random((8, 32, 32, 3)), tf.float32)
    max_diff = float(np.abs(models["keras"](x).numpy() - models["direct"](x).numpy()).max())
    write_result(args.out, {
        "benchmark": "dilated_conv", "filters": args.filters, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "max_abs_output_difference_keras_vs_direct": max_diff, "results": results}, info, __file__, argv)
    print(f"keras vs direct: max output difference {max_diff:.2e}; wrote {args.out}")


if __name__ == "__main__":
    main()
