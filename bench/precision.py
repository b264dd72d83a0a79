#!/usr/bin/env python
"""float32 against mixed bfloat16 on this CPU: writes bench/results/precision.json and precision.md.

``--precision auto`` trains the convolutional stages in bfloat16 where the CPU has bf16 units
(keras_irdi.models.precision); this measures what that buys here, in one run, for:
  fit      each stage's network at the `small_v1` widths and at the paper's: a Keras fit of real CIFAR-10
           images (classifiers: batch 128, Adamax; restoration net and estimator: JPEG-degraded 32x32 images,
           batch 32, Adam), data cached in memory so the network's own speed is timed
  sweep    the six networks' shared forward pass (keras_irdi.models.forward) over --sweep-images degraded images
  serving  the Proposed composite's inference at batch 32 (exports are float32 graphs: the bfloat16 column
           says what a bfloat16 export would gain)
Precisions are interleaved per model (drifting load hits both alike); each timing is the best of --repeats
passes after a warm-up. The CPU model and its bf16 flags are recorded: on a CPU without them bfloat16 is
emulated and slower, and without AVX-512 the dilated patch nets cannot train in bfloat16 at all (their rows say so).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import add_out_option, machine_info, write_result

WIDTHS = {"small_v1": {"classifier": ((32, 64, 128), 256), "patch_filters": 32},
          "paper": {"classifier": ((64, 128, 256), 512), "patch_filters": 64}}
PRECISIONS = ("float32", "bfloat16")


def _best(fn, repeats):
    fn()  # warm-up: tracing and oneDNN's kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fit_rate(kind, width, precision, x, y, repeats):
    """Images (or patches) per second of model.fit over ``x`` for one network in one precision."""
    import keras
    import tensorflow as tf

    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net
    from keras_irdi.models.precision import precision_policy

    keras.utils.set_random_seed(0)
    w = WIDTHS[width]
    with precision_policy(precision):
        if kind == "classifier":
            filters, dense = w["classifier"]
            model, loss, opt, batch = build_classifier(filters=filters, dense_units=dense, dropout=0.0), \
                "sparse_categorical_crossentropy", keras.optimizers.Adamax(0.002), 128
        elif kind == "restoration":
            model, loss, opt, batch = build_restoration_net(w["patch_filters"]), "mse", keras.optimizers.Adam(1e-3), 32
        else:
            model, loss, opt, batch = build_level_estimator(w["patch_filters"]), "mse", keras.optimizers.Adam(1e-3), 32
    model.compile(opt, loss)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache()
    return len(x) / _best(lambda: model.fit(ds, epochs=1, verbose=0), repeats)


def forward_rates(width, precision, degraded_uint8, repeats):
    """(sweep images/s through SharedForward, Proposed composite images/s at batch 32)."""
    from keras_irdi.models.composites import proposed
    from keras_irdi.models.forward import SharedForward
    from keras_irdi.models.precision import precision_policy
    from keras_irdi.models.random_stages import random_stages

    w = WIDTHS[width]
    with precision_policy(precision):
        stages = random_stages("jpeg", 10, 0, restoration_filters=w["patch_filters"],
                               estimator_filters=w["patch_filters"], weight_hidden=(16, 16),
                               classifier_filters=w["classifier"][0], classifier_dense=w["classifier"][1])
        composite = proposed(stages, "jpeg")
    forward = SharedForward(stages)
    sweep = len(degraded_uint8) / _best(lambda: [forward(degraded_uint8[i:i + 500])
                                                 for i in range(0, len(degraded_uint8), 500)], repeats)
    batch = degraded_uint8[:32].astype(np.float32) / 255.0
    serving = 32 * 10 / _best(lambda: [composite.predict_on_batch(batch) for _ in range(10)], repeats)
    return sweep, serving


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar-dir", default=os.environ.get("IRDI_CIFAR_DIR"),
                    required=not os.environ.get("IRDI_CIFAR_DIR"),
                    help="local CIFAR-10 copy (python layout or .npz); env IRDI_CIFAR_DIR")
    ap.add_argument("--images", type=int, default=1280, help="classifier images per timed epoch (default 1280)")
    ap.add_argument("--patches", type=int, default=640, help="patch-net images per timed epoch (default 640)")
    ap.add_argument("--sweep-images", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--widths", nargs="+", choices=sorted(WIDTHS), default=["small_v1", "paper"])
    add_out_option(ap, "precision.json")  # and the page beside it, .md
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the CLIs (keras_irdi.tfenv)
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.data.pipelines import degrade_array
    from keras_irdi.models.precision import bf16_trains_dilated_convs, cpu_info
    from keras_irdi.stage_registry import stage_names

    info = {**machine_info(), **cpu_info()}
    data = load_cifar("cifar10", cifar_dir=args.cifar_dir, limit_train=max(args.images, args.patches),
                      limit_test=args.sweep_images)
    x_cls, y_cls = data["x_train"][:args.images].astype(np.float32) / 255.0, data["y_train"][:args.images]
    degraded, _ = degrade_array(data["x_train"][:args.patches], "jpeg", 0)
    x_patch, clean = degraded.astype(np.float32) / 255.0, data["x_train"][:args.patches].astype(np.float32) / 255.0
    level = np.random.default_rng(0).random((args.patches, 1)).astype(np.float32)  # timing only
    sweep_images, _ = degrade_array(data["x_test"], "jpeg", 1)

    rows = []
    for width in args.widths:
        nets = (("classifier", x_cls, y_cls), ("restoration", x_patch, clean), ("estimator", x_patch, level))
        for kind, x, y in nets:
            skip = kind in stage_names(dilated=True) and not bf16_trains_dilated_convs()  # it would raise
            rates = {p: None if skip and p == "bfloat16" else fit_rate(kind, width, p, x, y, args.repeats)
                     for p in PRECISIONS}
            rows.append({"what": f"fit: {kind}", "widths": width,
                         **{p: r if r is None else round(r, 1) for p, r in rates.items()}})
            print(rows[-1], flush=True)
        rates = {p: forward_rates(width, p, sweep_images, args.repeats) for p in PRECISIONS}
        for i, what in enumerate(("sweep: six networks, shared forward", "serving: Proposed composite, batch 32")):
            rows.append({"what": what, "widths": width, **{p: round(r[i], 1) for p, r in rates.items()}})
            print(rows[-1], flush=True)
    for row in rows:
        row["ratio"] = None if row["bfloat16"] is None else round(row["bfloat16"] / row["float32"], 2)
    write_result(args.out, {"benchmark": "precision", "unit": "images per second", "rows": rows,
                            "goal": "bfloat16 / float32 >= 2.5 for the classifiers and the restoration net on a "
                                    "CPU with AMX-BF16"}, info, __file__, argv)
    written = json.loads(Path(args.out).read_text())  # the page shows what the JSON records
    info, command, date = written["machine"], written["command"], written["date"]
    family = f" ({info['family_model']})" if info["family_model"] else ""  # "" off x86 Linux
    md = [f"# float32 against mixed bfloat16 — {info['cpu']}{family}, {info['cores']} cores, "
          f"bf16 flags: {', '.join(info['bf16_flags']) or 'none'}", "",
          f"`{command}` ({date}; load average {info['load_avg_at_start'][0]:.2f} at start, "
          f"{info['load_avg_at_end'][0]:.2f} at end). Images per second, best of {args.repeats} after a warm-up.", "",
          "| what | widths | float32 | bfloat16 | bfloat16 / float32 |", "|:---|:---|---:|---:|---:|"]
    md += [f"| {r['what']} | {r['widths']} | {r['float32']:.0f} | {r['bfloat16']:.0f} | **{r['ratio']:.2f}x** |"
           if r["ratio"] is not None else
           f"| {r['what']} | {r['widths']} | {r['float32']:.0f} | cannot train here (no AVX-512) | — |" for r in rows]
    md_path = os.path.splitext(args.out)[0] + ".md"
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"-> {args.out}, {md_path}")


if __name__ == "__main__":
    sys.exit(main())
