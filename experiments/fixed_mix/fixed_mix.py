#!/usr/bin/env python
"""Could any mix of the two classifiers beat Seq(res) in a trained run? -> bench/results/fixed_mix_<run>.json

The mechanism table bounds what *choosing* Seq(org) or Seq(res) per level can give; this measures *mixing*:
on the run's first --n CIFAR test images, JPEG'd (or noised) at a few levels and restored by the run's frozen
restoration net, the accuracy of w * Cla(org) + (1 - w) * Cla(res) for fixed weights w. If no fixed w beats
w = 0 (Seq(res)) at any level, a weight net has nothing to gain on these classifiers.
"""
import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

from _common import machine_info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--cifar-dir", default=None, help="local CIFAR copy (default: the run's)")
    ap.add_argument("--levels", default=None, help="comma-separated levels (default: the paper's CPSNR levels)")
    ap.add_argument("--weights", default="0,0.2,0.35,0.5,0.65,0.8,1")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from keras_irdi.tfenv import load_tensorflow

    load_tensorflow()
    from keras_irdi.runs.directory import RunDir, write_json
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.degradations import degrade, get_degradation
    from keras_irdi.runs.config import RunConfig

    run = RunDir(args.run_dir)
    config = RunConfig.from_dict(run.manifest()["config"])
    deg = get_degradation(config.degradation)
    levels = [float(v) for v in args.levels.split(",")] if args.levels else list(deg.psnr_levels)
    weights = [float(w) for w in args.weights.split(",")]
    stages = run.load_stages("restoration", "cla_org", "cla_res")
    data = load_cifar(config.dataset, cifar_dir=args.cifar_dir or config.runtime.cifar_dir, limit_test=args.n)
    x, y = data["x_test"], data["y_test"]
    results = []
    for level in levels:
        degraded = degrade(x, deg.name, int(level) if deg.integer else level, seed=0).astype(np.float32) / 255
        restored = stages["restoration"].predict(degraded, batch_size=500, verbose=0)
        p_org = stages["cla_org"].predict(restored, batch_size=500, verbose=0)
        p_res = stages["cla_res"].predict(restored, batch_size=500, verbose=0)
        acc = {f"{w:g}": round(float(np.mean(np.argmax(w * p_org + (1 - w) * p_res, -1) == y)), 4) for w in weights}
        results.append({"level": level, "accuracy_by_w_org": acc})
        print(level, acc, flush=True)
    out = Path(args.out or f"bench/results/fixed_mix_{run.path.name}.json")
    write_json(out, {"benchmark": "fixed_mix", "run": str(run.path), "degradation": deg.name,
                     "n_images": int(len(x)), "results": results, "machine": machine_info(),
                     "command": " ".join([sys.executable] + sys.argv),
                     "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    print(f"-> {out}")


if __name__ == "__main__":
    sys.exit(main())
