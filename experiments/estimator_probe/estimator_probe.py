#!/usr/bin/env python
"""Can the level estimator learn in a CPU budget? Writes bench/results/estimator_probe.json.

Why this exists: in the `small` JPEG run the estimator stayed near a constant. This probe separates "the
signal is not in the data" from "the network does not find it in this many steps". On --n clean 32x32
photo patches (the estimator's own training data), each task reports validation MSE against the variance
of the target (MSE/var = 1 is "predicts the mean", 0 is perfect) and the correlation of estimate and truth:

  blockiness_rule  no learning: a hand-written JPEG blockiness ratio (mean |horizontal step| across the
                   8x8 block borders / mean |step| everywhere), thresholded at its median, QF 5 vs QF 95
  jpeg_binary      the estimator trained --steps steps on QF in {5, 95}        (the easiest JPEG task)
  jpeg_uniform     the estimator trained --steps steps on QF uniform in 1..100 (the `small` stage's task)
  gaussian_uniform the estimator trained --steps steps on sigma uniform in [0, 50] (control)

Same architecture, width, batch size, optimiser and learning rate as the `small` preset's estimator stage.
"""
import argparse
import datetime
import os
import sys
import time

import numpy as np

from _common import machine_info

VAL = 1000


def blockiness(images: np.ndarray) -> np.ndarray:
    """Mean absolute horizontal step across 8x8 block borders over the mean step anywhere (per image)."""
    steps = np.abs(np.diff(images.astype(np.float32), axis=2)).mean(axis=(1, 3))  # (N, W-1)
    return steps[:, 7::8].mean(axis=1) / (steps.mean(axis=1) + 1e-6)


def make_task(patches, kind, levels_fn, n, rng):
    """n degraded patches in [0,1] and their normalised levels, from random patches and levels."""
    from keras_irdi.degradations import degrade, get_degradation

    deg = get_degradation(kind)
    idx = rng.integers(0, len(patches), n)
    levels = levels_fn(n, rng)
    x = degrade(patches[idx], kind, levels, seed=rng).astype(np.float32) / 255.0
    return x, (np.asarray(levels, np.float32) / deg.scale)[:, None]


def train_probe(train, val, preset, steps, seed):
    import keras

    from keras_irdi.models import build_level_estimator

    keras.utils.set_random_seed(seed)
    cfg = preset.estimator.train
    model = build_level_estimator(preset.estimator.filters)
    model.compile(keras.optimizers.Adamax(cfg.learning_rate), "mse")
    start = time.perf_counter()
    model.fit(*train, batch_size=cfg.batch_size, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    pred = model.predict(val[0], batch_size=256, verbose=0)[:, 0]
    return score(pred, val[1][:, 0]) | {"steps": steps, "train_seconds": round(seconds, 1)}


def score(pred, target) -> dict:
    mse = float(np.mean((pred - target) ** 2))
    return {"val_mse": round(mse, 5), "target_var": round(float(target.var()), 5),
            "mse_over_var": round(mse / float(target.var()), 3),
            "corr": round(float(np.corrcoef(pred, target)[0, 1]), 3) if pred.std() > 0 else 0.0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean-dir", nargs="+", required=True, help="clean photo folders (e.g. T91)")
    ap.add_argument("--n", type=int, default=20000, help="patches to draw from (default 20000)")
    ap.add_argument("--steps", type=int, default=1000, help="training steps per task (default 1000)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/estimator_probe.json")
    args = ap.parse_args(argv)
    if args.n < 2 * VAL or args.steps < 1:
        ap.error(f"--n must be >= {2 * VAL} and --steps >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_irdi.runs.directory import write_json
    from keras_irdi.data.images import extract_patches, load_image_folder
    from keras_irdi.presets import get_preset

    info = machine_info()
    preset = get_preset(args.preset)
    images = load_image_folder(args.clean_dir)
    patches = extract_patches(images, size=32, stride=32, augment=True, max_patches=args.n, seed=args.seed)
    if len(patches) < 2 * VAL:
        ap.error(f"{args.clean_dir} gave {len(patches)} 32x32 patches; the probe needs at least {2 * VAL}")
    train_patches, val_patches = patches[:-VAL], patches[-VAL:]
    rng = np.random.default_rng(args.seed)
    n_train = args.steps * preset.estimator.train.batch_size
    tasks = {
        "jpeg_binary": ("jpeg", lambda n, r: r.choice([5, 95], n)),
        "jpeg_uniform": ("jpeg", lambda n, r: r.integers(1, 101, n)),
        "gaussian_uniform": ("gaussian", lambda n, r: r.uniform(0, 50, n)),
    }
    results = {}
    x, y = make_task(val_patches, *tasks["jpeg_binary"], VAL, rng)
    is_low = blockiness(x * 255) > np.median(blockiness(x * 255))
    results["blockiness_rule"] = {"accuracy_qf5_vs_qf95": round(float(np.mean(is_low == (y[:, 0] < 0.5))), 3)}
    for name, (kind, levels_fn) in tasks.items():
        train = make_task(train_patches, kind, levels_fn, n_train, rng)
        val = make_task(val_patches, kind, levels_fn, VAL, rng)
        results[name] = train_probe(train, val, preset, args.steps, args.seed)
        print(name, results[name], flush=True)
    info["load_avg_at_end"] = os.getloadavg()
    write_json(args.out, {
        "benchmark": "estimator_probe", "preset": args.preset, "patch_size": 32, "patches": len(patches),
        "estimator": {"filters": preset.estimator.filters, **vars(preset.estimator.train)},
        "results": results, "machine": info, "command": " ".join([sys.executable] + sys.argv),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    print(f"blockiness rule {results['blockiness_rule']['accuracy_qf5_vs_qf95']:.3f}; MSE/var after {args.steps} "
          f"steps: " + ", ".join(f"{k} {v['mse_over_var']:.2f}" for k, v in results.items() if "mse_over_var" in v)
          + f" -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
