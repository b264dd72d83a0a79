#!/usr/bin/env python
"""Throughput of the exported Proposed SavedModel against its sub-models: writes bench/results/serving.json.

Random-weight stages at the 'small' preset's widths (timing does not depend on the weights) are saved as a
run, exported with keras_irdi.serving.export (the TF Serving artefact users deploy), loaded back with
tf.saved_model.load, and timed on the first --n real CIFAR-10 test images (JPEG QF 30), in batches:
  serving  the SavedModel's serving_default signature (uint8 in, dict out)
  sum      each sub-model Proposed needs, run once on the same batch: restoration, estimator, weight net,
           cla_org and cla_res on the restored batch
Ratio serving/sum (goal <= 1.1: the export restores once and adds almost nothing around the sub-models).
"""
import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import build_stages, machine_info, timed



def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="CIFAR-10 test images (default 1000)")
    ap.add_argument("--batch-size", type=int, default=250, help="request batch size (default 250)")
    ap.add_argument("--preset", default="small", help="preset whose network widths are used")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    ap.add_argument("--cifar-dir", default=os.environ.get("IRDI_CIFAR_DIR"),
                    help="local CIFAR-10 copy (default: env IRDI_CIFAR_DIR)")
    ap.add_argument("--out", default="bench/results/serving.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from keras_irdi.runs.directory import RunDir, write_json
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.degradations import degrade
    from keras_irdi.serving.export import export_serving

    info = machine_info()
    data = load_cifar("cifar10", cifar_dir=args.cifar_dir, limit_test=args.n)
    x = degrade(data["x_test"], "jpeg", 30)
    batches = [x[i:i + args.batch_size] for i in range(0, len(x), args.batch_size)]
    stages = build_stages(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        for name, model in stages.items():
            run.save_stage(name, model, config={}, export=False)
        run.update_manifest(config={"degradation": "jpeg", "dataset": "cifar10"},
                            class_names=data["class_names"], input_size=32)
        path = export_serving(run.path, Path(tmp) / "export", "proposed")
        serving = tf.saved_model.load(str(path)).signatures["serving_default"]

        def serve():
            return [serving(images=tf.constant(b)) for b in batches]

        def sub_models():
            total = 0.0
            for b in batches:
                xb = b.astype(np.float32) / 255.0
                restored, t = timed(stages["restoration"].predict_on_batch, xb)
                level, t2 = timed(stages["estimator"].predict_on_batch, xb)
                total += t + t2
                total += timed(stages["weight_net"].predict_on_batch, level)[1]
                total += timed(stages["cla_org"].predict_on_batch, restored)[1]
                total += timed(stages["cla_res"].predict_on_batch, restored)[1]
            return total

        serve(), sub_models()  # warm-up: traces every function
        times = {"serving": [], "sum": []}
        for _ in range(args.repeats):
            times["serving"].append(timed(serve)[1])
            times["sum"].append(sub_models())
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = round(med["serving"] / med["sum"], 3)
    info["load_avg_at_end"] = os.getloadavg()
    write_json(args.out, {
        "benchmark": "serving", "preset_widths": args.preset, "n_images": len(x), "batch_size": args.batch_size,
        "repeats": args.repeats, "results": {k: {"seconds": [round(t, 4) for t in v], "median_seconds": round(med[k], 4),
                                                 "images_per_second": round(len(x) / med[k], 1)}
                                             for k, v in times.items()},
        "ratios": {"serving_over_sum": ratio}, "goals": {"serving_over_sum": "<= 1.1"},
        "machine": info, "command": " ".join([sys.executable] + sys.argv),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    print(f"serving: {len(x)} images, SavedModel {len(x) / med['serving']:.0f} img/s, sub-models "
          f"{len(x) / med['sum']:.0f} img/s, serving/sum {ratio:.2f} (goal <= 1.1) -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
