#!/usr/bin/env python
"""Throughput of the JPEG training pipeline against a plain PIL loop: writes bench/results/pipeline.json.

Variants, each over the same N real CIFAR images with a random quality factor per image, producing float32
batches in [0, 1] of --batch-size images:
  pil        single-process loop: keras_irdi.degrade per batch (the PIL round trip), then /255
  pipeline   keras_irdi.data.pipelines.classification_batches(kind="jpeg", augment=False, shuffle=False)
  per_image  the same pipeline with the py_function applied per image (the rejected design), built here
  parallel   the same pipeline with AUTOTUNE parallel degradation calls instead of one at a time (the
             rejected setting), built here
  augmented  the pipeline with the CIFAR augmentation on (optional, --no-augmented skips it)
Each variant is warmed up with one full pass, then timed over --repeats passes (variants interleaved);
the median is reported. Ratios: pipeline/pil (goal >= 0.9), per_image/pipeline and parallel/pipeline
(images/s).
"""
import argparse
import statistics
import sys
import time

import numpy as np

from _common import add_run_options, cifar_images, machine_info, require_positive, write_result

BATCH = 128


def pil_loop(x, batch_size, seed=0):
    """The plain single-process baseline: one random QF per image, PIL round trip per image."""
    from keras_irdi import degrade, get_degradation

    deg = get_degradation("jpeg")
    rng = np.random.default_rng(seed)
    for i in range(0, len(x), batch_size):
        batch = x[i:i + batch_size]
        out = degrade(batch, "jpeg", deg.sample(len(batch), rng), seed=rng)
        out.astype(np.float32) / 255.0


def per_image_dataset(x, y, batch_size, seed=0):
    """The rejected design: the same degradation code, but one py_function call per image."""
    import tensorflow as tf

    from keras_irdi.data.pipelines import AUTOTUNE, DEGRADE_CALLS, degrade_in_pipeline

    def make(example, s):
        image, label = example
        degraded, _ = degrade_in_pipeline(image[None], s, "jpeg")  # a batch of one image
        return degraded[0], label

    ds = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices((x, y)), tf.data.Dataset.random(seed=seed)))
    ds = ds.map(make, num_parallel_calls=DEGRADE_CALLS).batch(batch_size)
    return ds.map(lambda img, lab: (tf.cast(img, tf.float32) / 255.0, lab)).prefetch(AUTOTUNE)


def parallel_dataset(x, y, batch_size, seed=0):
    """The rejected setting: per-batch degradation as in the library, but AUTOTUNE parallel calls."""
    import tensorflow as tf

    from keras_irdi.data.pipelines import AUTOTUNE, keyed_batches, degrade_in_pipeline

    def make(batch, s):
        images, labels = batch
        degraded, _ = degrade_in_pipeline(images, s, "jpeg")
        return tf.cast(degraded, tf.float32) / 255.0, labels

    ds = keyed_batches(x, y, batch_size, seed, shuffle=False, drop_remainder=False)
    return ds.map(make, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def iterate(ds):
    for _ in ds:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=BATCH, help=f"batch size (default {BATCH})")
    ap.add_argument("--no-augmented", action="store_true", help="skip the pipeline-with-augmentation variant")
    add_run_options(ap, "pipeline.json", images=(20000, "train"))
    args = ap.parse_args(argv)
    require_positive(ap, args, "n", "batch_size", "repeats")

    from keras_irdi.data.pipelines import classification_batches

    info = machine_info()
    data = cifar_images(ap, args, "train")
    x, y = data["x_train"], data["y_train"]

    def pipeline(augment):
        return classification_batches(x, y, args.batch_size, kind="jpeg", augment=augment, shuffle=False)

    # Datasets are built once (their map functions are traced at construction) and iterated per pass.
    variants = {"pil": lambda: pil_loop(x, args.batch_size)}
    datasets = {"pipeline": pipeline(False), "per_image": per_image_dataset(x, y, args.batch_size),
                "parallel": parallel_dataset(x, y, args.batch_size)}
    if not args.no_augmented:
        datasets["augmented"] = pipeline(True)
    variants.update({name: (lambda ds=ds: iterate(ds)) for name, ds in datasets.items()})

    for run in variants.values():  # warm-up pass
        run()
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    results = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {"seconds": [round(t, 4) for t in ts], "median_seconds": round(med, 4),
                         "images_per_second": round(args.n / med, 1)}
    ips = {name: r["images_per_second"] for name, r in results.items()}
    ratios = {"pipeline_over_pil": round(ips["pipeline"] / ips["pil"], 3),
              "per_image_over_per_batch": round(ips["per_image"] / ips["pipeline"], 3),
              "parallel_over_pipeline": round(ips["parallel"] / ips["pipeline"], 3)}
    if "augmented" in ips:
        ratios["augmented_over_pipeline"] = round(ips["augmented"] / ips["pipeline"], 3)
    write_result(args.out, {
        "benchmark": "pipeline", "n_images": args.n, "batch_size": args.batch_size, "repeats": args.repeats,
        "degradation": "jpeg, random quality factor 1..100 per image", "data_sha256": data["sha256"],
        "results": results, "ratios": ratios, "goals": {"pipeline_over_pil": ">= 0.9"}}, info, __file__, argv)
    print(f"pipeline: N={args.n} images/s pil {ips['pil']:.0f}, pipeline {ips['pipeline']:.0f}, "
          f"per-image {ips['per_image']:.0f}" + (f", augmented {ips['augmented']:.0f}" if "augmented" in ips else "")
          + f"; pipeline/pil {ratios['pipeline_over_pil']:.2f} (goal >= 0.9), "
          f"per-image/per-batch {ratios['per_image_over_per_batch']:.2f}, "
          f"parallel/one-at-a-time {ratios['parallel_over_pipeline']:.2f} -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
