#!/usr/bin/env python
"""Cost of the shared-forward level sweep against its sub-models and a naive sweep: writes
bench/results/sweep.json.

Random-weight stage models at the 'small' preset's widths (timing does not depend on the weights), the
first --n real CIFAR-10 test images, --levels JPEG quality factors. The images are degraded once up front
(that time is reported separately and excluded below); then, over the same degraded batches:
  shared  keras_irdi.models.forward.SharedForward, as the sweep runs it (each sub-model once per batch)
  sum     each sub-model's own predict_on_batch time on the same inputs, summed: restoration, estimator,
          weight net once, cla_org twice (degraded and restored input), cla_deg and cla_res once
  naive   the six composites of keras_irdi.models.composites.build_composite, each run separately
One warm-up pass (it traces every function), then --repeats passes with the three interleaved; medians.
Ratios: shared/sum (goal <= 1.15: sharing costs little beyond the sub-models themselves) and naive/shared.
"""
import argparse
import statistics
import sys
import time
from collections import Counter

import numpy as np

from _common import add_run_options, build_stages, cifar_images, machine_info, require_positive, timed, write_result

DEFAULT_LEVELS = "10,30,50,70,90"


class SubModelSum:
    """Times each sub-model call of one shared forward on its own (the minimum work, nothing else)."""

    CALLS = (("restoration", "x"), ("estimator", "x"), ("weight_net", "level"), ("cla_org", "x"),
             ("cla_org", "restored"), ("cla_deg", "x"), ("cla_res", "restored"))

    def __init__(self, stages, inputs):
        self.stages, self.inputs = stages, inputs  # per batch: {"x", "restored", "level"} arrays

    def __call__(self) -> float:
        total = 0.0
        for batch in self.inputs:
            for stage, key in self.CALLS:
                total += timed(self.stages[stage].predict_on_batch, batch[key])[1]
        return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default=DEFAULT_LEVELS, help=f"comma-separated JPEG QFs (default {DEFAULT_LEVELS})")
    ap.add_argument("--batch-size", type=int, default=500, help="sweep batch size (default 500, as run_sweep)")
    ap.add_argument("--preset", default="small", help="preset whose network widths are used (default small)")
    add_run_options(ap, "sweep.json", images=(1000, "test"))
    args = ap.parse_args(argv)
    require_positive(ap, args, "n", "batch_size", "repeats")

    from keras_irdi.degradations import degrade
    from keras_irdi.evaluation.level_sweep import sweep_levels
    from keras_irdi.models.forward import SharedForward
    from keras_irdi.models.composites import NETWORKS, build_composite, required_stages

    info = machine_info()
    try:
        levels = sweep_levels("jpeg", levels=[float(v) for v in args.levels.split(",")])
    except ValueError as exc:
        ap.error(str(exc))
    data = cifar_images(ap, args, "test")
    x = data["x_test"]

    # Degrade once (seeded per level as run_sweep does); timed on its own.
    deg_times, degraded = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        degraded = [degrade(x, "jpeg", level, seed=i) for i, level in enumerate(levels)]
        deg_times.append(time.perf_counter() - start)
    batches = [d[i:i + args.batch_size] for d in degraded for i in range(0, len(d), args.batch_size)]

    stages = build_stages(args.preset)
    forward = SharedForward(stages)
    composites = {name: build_composite(name, stages, "jpeg") for name in NETWORKS}

    def shared():
        return [forward(b) for b in batches]

    def naive():
        return [{name: model.predict_on_batch(b) for name, model in composites.items()} for b in batches]

    # Warm-up (traces every predict function, including the last, smaller batch) and a consistency check.
    shared_out, naive_out = shared(), naive()
    max_diff = max(float(np.max(np.abs(np.asarray(n["proposed"]["probabilities"] if name == "proposed" else n[name])
                                       - s[name])))
                   for s, n in zip(shared_out, naive_out) for name in NETWORKS)
    sub_sum = SubModelSum(stages, [{"x": b.astype(np.float32) / 255.0, "restored": s["restored"],
                                    "level": s["level"][:, None]} for b, s in zip(batches, shared_out)])
    sub_sum()
    forward.calls = Counter()

    times = {"shared": [], "sum": [], "naive": []}
    for _ in range(args.repeats):
        times["shared"].append(timed(shared)[1])
        times["sum"].append(sub_sum())
        times["naive"].append(timed(naive)[1])

    n_images = len(levels) * len(x)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    results = {name: {"seconds": [round(t, 4) for t in ts], "median_seconds": round(med[name], 4),
                      "images_per_second": round(n_images / med[name], 1)} for name, ts in times.items()}
    deg_med = statistics.median(deg_times)
    results["degradation"] = {"seconds": [round(t, 4) for t in deg_times], "median_seconds": round(deg_med, 4),
                              "images_per_second": round(n_images / deg_med, 1), "excluded_from_the_above": True}
    ratios = {"shared_over_sum": round(med["shared"] / med["sum"], 3),
              "naive_over_shared": round(med["naive"] / med["shared"], 3)}
    shared_calls = {k: v // args.repeats for k, v in forward.calls.items()}
    naive_calls = Counter(s for name in NETWORKS for s in required_stages(name))
    write_result(args.out, {
        "benchmark": "sweep", "preset_widths": args.preset, "n_images": len(x), "levels": levels,
        "batch_size": args.batch_size, "batches_per_pass": len(batches), "repeats": args.repeats,
        "data_sha256": data["sha256"], "results": results, "ratios": ratios,
        "goals": {"shared_over_sum": "<= 1.15"},
        "sub_model_calls_per_pass": {"shared": {k: v for k, v in shared_calls.items()},
                                     "naive": {k: v * len(batches) for k, v in naive_calls.items()}},
        "max_abs_diff_shared_vs_composites": max_diff}, info, __file__, argv)
    print(f"sweep: {len(levels)} levels x {len(x)} images, median s: shared {med['shared']:.2f}, "
          f"sum of sub-models {med['sum']:.2f}, naive {med['naive']:.2f}, degradation {deg_med:.2f} (excluded); "
          f"shared/sum {ratios['shared_over_sum']:.2f} (goal <= 1.15), naive/shared {ratios['naive_over_shared']:.2f}"
          f" -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
