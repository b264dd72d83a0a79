"""Every frozen sub-model's output on held-out CIFAR images over a level grid, cached for the weight-net ablation.

    python bench/weight_net_cache.py --run-dir models/small_jpeg_cifar10 --cifar-dir DATA --out CACHE/jpeg.npz

Held-out images are the ones no stage trained on: the run's validation split (the last ``val_fraction`` of
the training images) and its test images. For each image and grid level it stores the estimated level and
the probabilities of Cla(org), Cla(deg), Seq(org), Seq(res) and the run's own Proposed (its weight net fed
the estimate), so weight-net variants are trained and compared without running the frozen nets again
(bench/weight_net_ablation.py).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_irdi import tfenv  # noqa: E402,F401  (quiet TensorFlow import)

MEMBERS = ("cla_org", "cla_deg", "seq_org", "seq_res", "proposed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--cifar-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--step", type=int, default=3, help="every STEP-th level of the sweep grid (default 3)")
    ap.add_argument("--batch-size", type=int, default=500)
    args = ap.parse_args()

    from keras_irdi.runs.directory import RunDir
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.degradations import degrade, get_degradation
    from keras_irdi.models.forward import SharedForward
    from keras_irdi.runs.config import RunConfig

    run = RunDir(args.run_dir)
    config = RunConfig.from_dict(run.manifest()["config"])
    deg = get_degradation(config.degradation)
    data = load_cifar(config.dataset, cifar_dir=args.cifar_dir)
    n_val = int(round(len(data["x_train"]) * config.preset.data.val_fraction))
    x = np.concatenate([data["x_train"][-n_val:], data["x_test"]])
    y = np.concatenate([data["y_train"][-n_val:], data["y_test"]]).reshape(-1)
    split = np.array(["val"] * n_val + ["test"] * len(data["x_test"]))
    stages = run.load_stages("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net")
    forward = SharedForward(stages)
    levels = deg.sweep_levels(args.step).astype(np.float64)
    probs = {m: np.empty((len(levels), len(x), 10), np.float16) for m in MEMBERS}
    est = np.empty((len(levels), len(x)), np.float32)
    start = time.time()
    for i, level in enumerate(levels):
        degraded = degrade(x, config.degradation, level, seed=1000 + i)
        for b in range(0, len(x), args.batch_size):
            out = forward(degraded[b:b + args.batch_size])
            for m in MEMBERS:
                probs[m][i, b:b + args.batch_size] = out[m]
            est[i, b:b + args.batch_size] = out["level"]
        print(f"level {level:g}: {time.time() - start:.0f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, levels=levels, y=y, split=split, level_est=est, degradation=config.degradation,
                        seconds=time.time() - start, **{f"p_{m}": probs[m] for m in MEMBERS})
    print(f"wrote {args.out} in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
