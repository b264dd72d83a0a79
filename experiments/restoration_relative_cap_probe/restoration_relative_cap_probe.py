"""Probe: does capping each image's PSNR relative to its input teach the JPEG restoration net to leave nearly
clean images alone?

    python bench/restoration_relative_cap_probe.py --cifar-dir DATA --photos BSD100

The `small` net's PSNR loss caps every image at 30 dB, so an image restored beyond 30 dB has no weight and the
net never learns the identity on nearly clean inputs (it harms QF 95-100). Here each image is capped
``--delta`` dB above its own input PSNR: 10 log10(MSE(R(x), y) + MSE(x, y) 10^(-delta/10)), so an image the
net already improves by delta stops pulling while an image it harms keeps its full weight. Trained as the
`small` JPEG stage trains (32 filters, CIFAR training images, Adam 1e-3 warm-up + cosine, 6 x 500 steps of 32),
then the gain per QF on the 1000 CIFAR test images and on photos at native resolution.
Writes bench/results/restoration_relative_cap_probe.{json,md}.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_irdi import tfenv  # noqa: E402,F401  (quiet TensorFlow import)

QFS = (5, 10, 20, 30, 50, 70, 80, 85, 90, 95, 98, 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar-dir", required=True)
    ap.add_argument("--photos")
    ap.add_argument("--delta", type=float, default=3.0)
    ap.add_argument("--floor-db", type=float, default=60.0, help="absolute cap for inputs JPEG left identical")
    ap.add_argument("--max-photos", type=int, default=100)
    ap.add_argument("--high-share", type=float, default=0.0,
                    help="share of training images degraded at QF 90-100 instead of a uniform QF 1-100")
    ap.add_argument("--out", default="bench/results/restoration_relative_cap_probe.json")
    args = ap.parse_args()

    import keras
    import tensorflow as tf
    from keras import ops

    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.data.pipelines import patch_pairs
    from keras_irdi.degradations import degrade
    from keras_irdi.models import build_restoration_net
    from keras_irdi.presets import get_preset
    from keras_irdi.training.fitting import make_optimizer

    start = time.time()
    keras.utils.set_random_seed(0)
    cfg = get_preset("small").restoration.for_degradation("jpeg").train
    data = load_cifar("cifar10", cifar_dir=args.cifar_dir)
    n_val = int(round(len(data["x_train"]) * 0.05))
    train = data["x_train"][:-n_val]
    floor = 10.0 ** (-args.floor_db / 10.0)

    def loss(both, restored):
        clean, degraded = both[..., :3], both[..., 3:]
        mse_out = ops.mean(ops.square(clean - restored), axis=(1, 2, 3))
        mse_in = ops.mean(ops.square(clean - degraded), axis=(1, 2, 3))
        return 10.0 * ops.log(mse_out + mse_in * 10.0 ** (-args.delta / 10.0) + floor) / ops.log(10.0)

    if args.high_share > 0:  # the same number of samples, a share of them from the top of the range
        rng = np.random.default_rng(0)
        n = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size
        clean = train[rng.integers(0, len(train), n)]
        qf = np.where(rng.random(n) < args.high_share, rng.integers(90, 101, n), rng.integers(1, 101, n))
        x = degrade(clean, "jpeg", qf).astype(np.float32) / 255.0
        y = clean.astype(np.float32) / 255.0
        ds = tf.data.Dataset.from_tensor_slices((x, np.concatenate([y, x], -1))).batch(cfg.batch_size).repeat()
    else:
        ds = patch_pairs(train, "jpeg", cfg.batch_size, "clean", seed=0, epochs=(0, cfg.epochs),
                         steps=cfg.steps_per_epoch).map(lambda x, y: (x, tf.concat([y, x], axis=-1)))
    net = build_restoration_net(32)
    net.compile(make_optimizer(cfg, cfg.steps_per_epoch), loss=loss)
    net.fit(ds, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch, verbose=2)
    train_seconds = time.time() - start

    def restore(images):
        out = [np.asarray(net.predict_on_batch(images[i:i + 500].astype(np.float32) / 255.0))
               for i in range(0, len(images), 500)]
        return np.clip(np.round(np.concatenate(out) * 255), 0, 255)

    def gains(clean, degraded):
        r = restore(degraded).astype(np.float64)
        x, y = degraded.astype(np.float64), clean.astype(np.float64)
        axes = tuple(range(1, r.ndim))
        before, after = ((y - x) ** 2).mean(axes), ((y - r) ** 2).mean(axes)
        return 10 * np.log10(np.maximum(before, 1e-6) / np.maximum(after, 1e-6))

    result = {"command": f"python bench/restoration_relative_cap_probe.py --cifar-dir DATA --photos BSD100 "
                         f"--delta {args.delta:g}" + (f" --high-share {args.high_share:g}" if args.high_share else ""),
              "high_share": args.high_share, "delta_db": args.delta, "floor_db": args.floor_db,
              "train_seconds": round(train_seconds, 1), "cifar_test": [], "photos": []}
    for q in QFS:
        g = gains(data["x_test"], degrade(data["x_test"], "jpeg", q))
        result["cifar_test"].append({"qf": q, "gain_db": round(float(g.mean()), 3), "worst_db": round(float(g.min()), 3),
                                     "harmed_share": round(float((g < -0.01).mean()), 3)})
        print(result["cifar_test"][-1], flush=True)
    if args.photos:
        from keras_irdi.data.images import load_image_folder

        photos = load_image_folder(args.photos)[:args.max_photos]
        for q in QFS:
            g = np.array([gains(p[None], degrade(p[None], "jpeg", q))[0] for p in photos])
            result["photos"].append({"qf": q, "gain_db": round(float(g.mean()), 3), "worst_db": round(float(g.min()), 3),
                                     "harmed_share": round(float((g < -0.01).mean()), 3)})
            print(result["photos"][-1], flush=True)
    result["seconds"] = round(time.time() - start, 1)
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1))
    lines = [f"# Restoration net with a PSNR cap relative to the input (delta {args.delta:g} dB), JPEG", "",
             f"Made by `{result['command']}` ({train_seconds / 60:.1f} min of training).", ""]
    for key, title in (("cifar_test", "CIFAR-10 test images (1000)"), ("photos", "photos at native resolution")):
        if result[key]:
            lines += [f"## {title}", "", "| QF | gain dB | worst dB | harmed |", "|---:|---:|---:|---:|"]
            lines += [f"| {r['qf']} | {r['gain_db']:+.2f} | {r['worst_db']:+.2f} | {r['harmed_share']:.0%} |"
                      for r in result[key]]
            lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out} in {result['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
