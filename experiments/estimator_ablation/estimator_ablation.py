#!/usr/bin/env python
"""Which training recipe lets the JPEG level estimator follow the quality factor? -> bench/results/estimator_ablation.json

A small ablation behind the `small` preset's estimator stage (docs/DECISIONS.md): training domain x optimizer
x steps, the lab's architecture at the preset's width and batch size. Every variant is scored on the same
--val JPEG'd CIFAR-10 *test* images (QF uniform in 1..100: the images the sweep judges it on), by the
mean absolute error in QF after each checkpoint of --checkpoints steps.

  domain     photos: 32x32 patches of the clean photos (the paper's data for this network)
             cifar:  CIFAR-10 training images (the domain it is evaluated on)
  variant    optimizer:learning rate, e.g. adamax:0.002 (the paper's optimizer, the old `small` setting)
             and adam:0.001 (the default pair); --variants adds others, e.g. a learning-rate axis
  schedule   constant (default) or warmup_cosine (the preset's shape: 0.2/6 of the steps of warm-up,
             then a cosine to 0 at the last checkpoint)
"""
import argparse
import datetime
import os
import sys
import time

import numpy as np

from _common import machine_info
from estimator_probe import make_task

def parse_variants(text: str) -> list:
    """'adamax:0.002,adam:0.001' -> [("adamax", 0.002), ("adam", 0.001)]"""
    from keras_irdi.preset_sections import OPTIMIZERS

    out = []
    for item in text.split(","):
        name, _, lr = item.partition(":")
        if name not in OPTIMIZERS or not lr:
            raise SystemExit(f"--variants: expected optimizer:learning_rate with one of {', '.join(OPTIMIZERS)}, "
                             f"got {item!r}")
        out.append((name, float(lr)))
    return out


def run_variant(train, val, preset, optimizer, lr, checkpoints, seed, schedule="constant"):
    import keras

    from keras_irdi.models import build_level_estimator
    from keras_irdi.preset_sections import StageConfig
    from keras_irdi.training.fitting import make_optimizer

    keras.utils.set_random_seed(seed)
    cfg = StageConfig(epochs=1, batch_size=preset.estimator.train.batch_size, learning_rate=lr,
                      optimizer=optimizer,
                      schedule=schedule, warmup_epochs=0.2 / 6)
    model = build_level_estimator(preset.estimator.filters)
    model.compile(make_optimizer(cfg, checkpoints[-1]), "mse")
    out, done, seconds = [], 0, 0.0
    for steps in checkpoints:
        start = time.perf_counter()
        # One fit call per checkpoint: consecutive slices of the training set, so no sample repeats.
        lo, hi = done * cfg.batch_size, steps * cfg.batch_size
        model.fit(train[0][lo:hi], train[1][lo:hi], batch_size=cfg.batch_size, epochs=1, verbose=0, shuffle=False)
        seconds += time.perf_counter() - start
        done = steps
        pred = model.predict(val[0], batch_size=256, verbose=0)[:, 0] * 100
        truth = val[1][:, 0] * 100
        out.append({"steps": steps, "qf_mae": round(float(np.mean(np.abs(pred - truth))), 2),
                    "mean_estimate_qf_le_20": round(float(pred[truth <= 20].mean()), 1),
                    "mean_estimate_qf_gt_80": round(float(pred[truth > 80].mean()), 1),
                    "train_seconds": round(seconds, 1)})
        print(optimizer, out[-1], flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar-dir", required=True, help="local CIFAR-10 copy (python layout or .npz)")
    ap.add_argument("--clean-dir", nargs="+", help="clean photo folders (e.g. T91); needed for the photos domain")
    ap.add_argument("--checkpoints", default="250,500,1000", help="comma-separated step counts")
    ap.add_argument("--domains", default="photos,cifar", help="comma-separated: photos, cifar")
    ap.add_argument("--variants", default="adamax:0.002,adam:0.001", help="comma-separated optimizer:lr")
    ap.add_argument("--schedule", default="constant", choices=("constant", "warmup_cosine"))
    ap.add_argument("--val", type=int, default=1000, help="JPEG'd CIFAR test images scored (default 1000)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/estimator_ablation.json")
    args = ap.parse_args(argv)
    checkpoints = sorted(int(s) for s in args.checkpoints.split(","))
    domains, variants = args.domains.split(","), parse_variants(args.variants)
    if not set(domains) <= {"photos", "cifar"}:
        raise SystemExit(f"--domains: choose from photos, cifar; got {args.domains!r}")
    if "photos" in domains and not args.clean_dir:
        raise SystemExit("the photos domain needs --clean-dir (e.g. ../shared/data/clean/T91), or use --domains cifar")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the CLIs (keras_irdi.tfenv)
    from keras_irdi.runs.directory import write_json
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.data.images import extract_patches, load_image_folder
    from keras_irdi.presets import get_preset

    info = machine_info()
    preset = get_preset(args.preset)
    cifar = load_cifar("cifar10", cifar_dir=args.cifar_dir, limit_test=args.val)
    pools = {"cifar": cifar["x_train"]}
    if "photos" in domains:
        pools["photos"] = extract_patches(load_image_folder(args.clean_dir), size=32, stride=16, augment=True,
                                          max_patches=100000, seed=args.seed)
    uniform = lambda n, r: r.integers(1, 101, n)  # noqa: E731
    n_train = checkpoints[-1] * preset.estimator.train.batch_size
    val = make_task(cifar["x_test"], "jpeg", uniform, len(cifar["x_test"]), np.random.default_rng(args.seed + 1))
    results = {}
    for domain in domains:
        train = make_task(pools[domain], "jpeg", uniform, n_train, np.random.default_rng(args.seed))
        for optimizer, lr in variants:
            key = f"{domain}/{optimizer}_{lr:g}"
            results[key] = run_variant(train, val, preset, optimizer, lr, checkpoints, args.seed, args.schedule)
    info["load_avg_at_end"] = os.getloadavg()
    write_json(args.out, {
        "benchmark": "estimator_ablation", "preset": args.preset, "filters": preset.estimator.filters,
        "batch_size": preset.estimator.train.batch_size, "schedule": args.schedule, "val_images": len(val[0]),
        "photo_patches": len(pools.get("photos", ())),
        "results": results, "machine": info, "command": " ".join([sys.executable] + sys.argv),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    print("QF MAE after " + ", ".join(f"{k}: {v[-1]['qf_mae']}" for k, v in results.items()) + f" -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
