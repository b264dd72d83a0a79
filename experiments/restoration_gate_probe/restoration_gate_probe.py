"""Probe: can a residual gate driven by the estimated level keep the JPEG restoration net from ever harming?

    python bench/restoration_gate_probe.py --cifar-dir DATA --photos BSD100_DIR

The shipped JPEG restoration net R gains about +0.5 dB at QF 10 but harms nearly clean images (CIFAR QF 95-100,
photos from QF 80 up: its outputs top out near 37.7 dB, the 30 dB cap of its loss). The gate applies a share
alpha of its residual, chosen from the estimated level: x + alpha(level) * (R(x) - x), alpha in [0, 1] from a
tiny MLP (level -> sigmoid). alpha is fitted on the CIFAR validation split (no stage trained on it), by the
mean per-image log MSE (the PSNR the gain is measured in), from three cached numbers per image
(<r, d>, |r|^2, |d|^2 with r = R(x) - x, d = clean - x), so fitting takes seconds. The gain is then measured
with and without the gate on the 1000 CIFAR test images and on photos at native resolution (alpha from the
photo's native-tile median level). Writes bench/results/restoration_gate_probe.{json,md}.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_irdi import tfenv  # noqa: E402,F401  (quiet TensorFlow import)

QFS = (5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95, 98, 100)


def _stats(restore, estimate, clean, degraded):
    """Per image: estimated QF, <r,d>, |r|^2, |d|^2 (pixel units 0..255)."""
    x = degraded.astype(np.float32)
    r = restore(degraded) - x
    d = clean.astype(np.float32) - x
    axes = tuple(range(1, r.ndim))
    return estimate(degraded), (r * d).sum(axes), (r * r).sum(axes), (d * d).sum(axes)


def _psnr_gain(alpha, rd, rr, dd):
    """Per image: PSNR(x + alpha r) - PSNR(x), dB, from the cached products (identical images: 0 gain)."""
    after = np.maximum(dd - 2 * alpha * rd + alpha ** 2 * rr, 1e-6)
    return 10 * np.log10(np.maximum(dd, 1e-6) / after)


def fit_gate(level, rd, rr, dd, hidden=8, steps=3000, seed=0):
    """alpha(level) = sigmoid(MLP(level / 100)), fitted to the mean per-image log MSE."""
    import tensorflow as tf

    tf.random.set_seed(seed)
    w1 = tf.Variable(tf.random.normal([1, hidden], stddev=1.0))
    b1 = tf.Variable(tf.zeros([hidden]))
    w2 = tf.Variable(tf.random.normal([hidden, 1], stddev=0.1))
    b2 = tf.Variable([2.0])  # start near alpha = 0.88: the net as it is
    consts = [tf.constant(a, tf.float32) for a in (level / 100.0, rd, rr, np.maximum(dd, 1e-6))]
    opt = tf.keras.optimizers.Adam(0.01)

    def alpha_of(lv):
        return tf.sigmoid(tf.tanh(lv[:, None] @ w1 + b1) @ w2 + b2)[:, 0]

    @tf.function
    def step():
        lv, a_rd, a_rr, a_dd = consts
        with tf.GradientTape() as tape:
            alpha = alpha_of(lv)
            loss = tf.reduce_mean(tf.math.log(tf.maximum(a_dd - 2 * alpha * a_rd + alpha ** 2 * a_rr, 1e-6) / a_dd))
        grads = tape.gradient(loss, [w1, b1, w2, b2])
        opt.apply_gradients(zip(grads, [w1, b1, w2, b2]))
        return loss

    for _ in range(steps):
        step()
    return lambda lv: alpha_of(tf.constant(np.asarray(lv, np.float32) / 100.0)).numpy()


def fit_cnn_gate(images, level, rd, rr, dd, epochs=8, seed=0):
    """alpha(image, level) = sigmoid(CNN): 3x3 convs, an 8x8 stride-8 conv (the JPEG block grid), global
    average, the level beside it; fitted to the same per-image log MSE as the level-only gate."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(seed)
    image = keras.Input((None, None, 3))
    lv = keras.Input((1,))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(image)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 8, strides=8, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Concatenate()([x, layers.Rescaling(0.01)(lv)])
    x = layers.Dense(16, activation="tanh")(x)
    alpha = layers.Dense(1, activation="sigmoid", bias_initializer=keras.initializers.Constant(2.0))(x)
    model = keras.Model([image, lv], alpha)

    def loss(y, a):  # y: (rd, rr, dd) per image
        a = a[:, 0]
        after = ops.maximum(y[:, 2] - 2 * a * y[:, 0] + a * a * y[:, 1], 1e-6)
        return ops.mean(ops.log(after / ops.maximum(y[:, 2], 1e-6)))

    model.compile(keras.optimizers.Adam(1e-3), loss=loss)
    model.fit([images.astype(np.float32) / 255.0, level.reshape(-1, 1)], np.stack([rd, rr, dd], 1).astype(np.float32),
              batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    return lambda ims, lvs: model.predict([ims.astype(np.float32) / 255.0, np.reshape(lvs, (-1, 1)).astype(np.float32)],
                                          batch_size=512, verbose=0)[:, 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar-dir", required=True)
    ap.add_argument("--photos", help="folder of clean photos (e.g. BSD100) for the native-resolution check")
    ap.add_argument("--run-dir", default="models/small_jpeg_cifar10")
    ap.add_argument("--max-photos", type=int, default=100)
    ap.add_argument("--out", default="bench/results/restoration_gate_probe.json")
    args = ap.parse_args()

    import keras_irdi.models  # noqa: F401  (registers the patch nets' layers)
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.degradations import degrade
    from keras_irdi.runs.directory import RunDir

    start = time.time()
    run = RunDir(args.run_dir)
    net, est = run.load_stage("restoration"), run.load_stage("estimator")

    def restore(images):
        out = [np.asarray(net.predict_on_batch(images[i:i + 500].astype(np.float32) / 255.0))
               for i in range(0, len(images), 500)]
        return np.clip(np.round(np.concatenate(out) * 255), 0, 255)  # what a user gets: 8-bit

    def estimate(images):
        out = [np.asarray(est.predict_on_batch(images[i:i + 500].astype(np.float32) / 255.0))[:, 0]
               for i in range(0, len(images), 500)]
        return np.clip(np.concatenate(out) * 100.0, 1, 100)

    data = load_cifar("cifar10", cifar_dir=args.cifar_dir)
    n_val = int(round(len(data["x_train"]) * 0.05))
    val, test = data["x_train"][-n_val:], data["x_test"]
    rng = np.random.default_rng(0)
    # Fit: the validation split at random QFs (several copies), as the stages draw levels.
    copies = [degrade(val, "jpeg", rng.integers(1, 101, len(val)) if k % 2 == 0 else rng.integers(80, 101, len(val)),
                      seed=k) for k in range(8)]  # half the copies from QF 80-100, where the harm is
    fit = [_stats(restore, estimate, val, c) for c in copies]
    lv, rd, rr, dd = (np.concatenate(a) for a in zip(*fit))
    gate = fit_gate(lv, rd, rr, dd)
    cnn_gate = fit_cnn_gate(np.concatenate(copies), lv, rd, rr, dd)
    result = {"command": "python bench/restoration_gate_probe.py --cifar-dir DATA --photos BSD100",
              "fit_images": int(len(lv)), "alpha_by_level": {str(q): round(float(gate([q])[0]), 4)
                                                             for q in (1, 10, 30, 50, 70, 80, 85, 90, 92, 95, 100)},
              "cifar_test": [], "photos": []}
    for q in QFS:
        degraded = degrade(test, "jpeg", q)
        lvq, rdq, rrq, ddq = _stats(restore, estimate, test, degraded)
        plain, gated = _psnr_gain(1.0, rdq, rrq, ddq), _psnr_gain(gate(lvq), rdq, rrq, ddq)
        cnn = _psnr_gain(cnn_gate(degraded, lvq), rdq, rrq, ddq)
        result["cifar_test"].append({"qf": q, "gain_db": round(float(plain.mean()), 3),
                                     "cnn_gain_db": round(float(cnn.mean()), 3), "cnn_worst_db": round(float(cnn.min()), 3),
                                     "cnn_harmed_share": round(float((cnn < -0.01).mean()), 3),
                                     "gated_gain_db": round(float(gated.mean()), 3),
                                     "gated_worst_db": round(float(gated.min()), 3),
                                     "gated_harmed_share": round(float((gated < -0.01).mean()), 3),
                                     "mean_alpha": round(float(gate(lvq).mean()), 3)})
        print(result["cifar_test"][-1], flush=True)
    if args.photos:
        from keras_irdi.data.images import load_image_folder
        from keras_irdi.serving.native_level import native_level, native_tiles

        photos = load_image_folder(args.photos)[:args.max_photos]
        for q in QFS:
            plain, gated, alphas, cnn = [], [], [], []
            for photo in photos:
                degraded = degrade(photo[None], "jpeg", q)[0]
                level = native_level(estimate, degraded, 32)["median"]
                tiles = native_tiles(degraded, 32)
                cnn_alpha = float(np.median(cnn_gate(tiles, estimate(tiles))))
                _, rdp, rrp, ddp = _stats(restore, lambda im: np.zeros(len(im)), photo[None], degraded[None])
                alpha = float(gate([level])[0])
                plain.append(_psnr_gain(1.0, rdp, rrp, ddp)[0])
                gated.append(_psnr_gain(alpha, rdp, rrp, ddp)[0])
                cnn.append(_psnr_gain(cnn_alpha, rdp, rrp, ddp)[0])
                alphas.append(alpha)
            gated, cnn = np.array(gated), np.array(cnn)
            result["photos"].append({"qf": q, "gain_db": round(float(np.mean(plain)), 3),
                                     "cnn_gain_db": round(float(cnn.mean()), 3), "cnn_worst_db": round(float(cnn.min()), 3),
                                     "cnn_harmed_share": round(float((cnn < -0.01).mean()), 3),
                                     "gated_gain_db": round(float(gated.mean()), 3),
                                     "gated_worst_db": round(float(gated.min()), 3),
                                     "gated_harmed_share": round(float((gated < -0.01).mean()), 3),
                                     "mean_alpha": round(float(np.mean(alphas)), 3)})
            print(result["photos"][-1], flush=True)
    result["seconds"] = round(time.time() - start, 1)
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1))
    lines = ["# Restoration gate probe (JPEG, models/small_jpeg_cifar10)", "", f"Made by `{result['command']}`.", "",
             "Mean CPSNR gain of the restoration net as it is, and with a residual gate x + alpha (R(x) - x) "
             "fitted on the CIFAR validation split (8 copies at random QFs, half of them from QF 80-100): alpha "
             "from the estimated level alone (a tiny MLP), or from a small CNN on the image plus the level (photos: "
             "the median over the photo's native 32x32 tiles). Worst image and share of images harmed "
             "(< -0.01 dB) with each gate.", ""]
    for key, title in (("cifar_test", "CIFAR-10 test images (1000, 32x32)"), ("photos", "photos at native resolution")):
        if result[key]:
            lines += [f"## {title}", "", "| QF | gain dB | level gate: gain dB | worst dB | harmed | mean alpha | "
                      "CNN gate: gain dB | worst dB | harmed |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            lines += [f"| {r['qf']} | {r['gain_db']:+.2f} | {r['gated_gain_db']:+.2f} | {r['gated_worst_db']:+.2f} | "
                      f"{r['gated_harmed_share']:.0%} | {r['mean_alpha']:.2f} | {r['cnn_gain_db']:+.2f} | "
                      f"{r['cnn_worst_db']:+.2f} | {r['cnn_harmed_share']:.0%} |" for r in result[key]]
            lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out} in {result['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
