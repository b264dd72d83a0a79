#!/usr/bin/env python
"""Where a classifier epoch's time goes: writes bench/results/training_speed.json.

The `small` runs' classifier epochs took longer than the arithmetic alone (docs/DECISIONS.md). Three
variants of one epoch of the `small` half-width classifier over the same --images real CIFAR images
(batch 128, flip + shift augmentation, op determinism on, as in training):
  bare_clean  model.fit on keras_irdi's classification_batches, clean images, no callbacks, no validation
  bare_jpeg   the same with JPEG (PIL through py_function, a random QF per image) in the pipeline
  stage_clean keras_irdi.training.fitting.fit_stage: the stage's own fit with BackupAndRestore, CSV and TensorBoard
              logging and a validation pass each epoch (validation images in the runs' proportion to the
              training set, 2250 : 42750)
Each variant trains a fresh model for 1 + --repeats epochs; the first (tracing, warm-up) is dropped and
the median of the rest is reported. Ratios: bare_jpeg/bare_clean (goal <= 1.1) and stage_clean/bare_clean
(goal <= 1.1). The load average is recorded: a busy machine makes every ratio meaningless.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

from _common import add_run_options, machine_info, require_positive, write_result

VAL_PER_TRAIN = 2250 / 42750  # the `small` runs' validation : training split


def epoch_times(variant, x, y, x_val, y_val, repeats, seed):
    from keras_irdi.runs.directory import RunDir
    from keras_irdi.data.pipelines import classification_batches
    from keras_irdi.models import build_classifier
    from keras_irdi.presets import get_preset
    from keras_irdi.training.fitting import EpochClock, fit_stage, make_optimizer
    from keras_irdi.runs.config import setup_determinism

    setup_determinism(seed)
    p = get_preset("small")
    net = p.classifier
    cfg = net.train
    cfg.epochs = 1 + repeats
    model = build_classifier(filters=net.filters, dense_units=net.dense, dropout=net.dropout)
    kind = "jpeg" if variant == "bare_jpeg" else None

    def train(epochs):
        return classification_batches(x, y, cfg.batch_size, kind=kind, augment=net.augmentation,
                                      seed=seed, epochs=epochs)

    clock = EpochClock(variant)
    if variant == "stage_clean":
        val = classification_batches(x_val, y_val, 256, augment=False, shuffle=False).cache()
        with tempfile.TemporaryDirectory() as tmp:
            fit_stage(RunDir(tmp), "speed", model, train, val, cfg, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], clock=clock)
    else:
        steps = -(-len(x) // cfg.batch_size)
        model.compile(make_optimizer(cfg, steps), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(train((0, cfg.epochs)), epochs=cfg.epochs, steps_per_epoch=steps, callbacks=[clock], verbose=0)
    return clock.seconds[1:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=12800, help="training images per epoch (default 12800)")
    ap.add_argument("--seed", type=int, default=0)
    add_run_options(ap, "training_speed.json")  # --repeats: timed epochs per variant after the warm-up
    args = ap.parse_args(argv)
    require_positive(ap, args, "images", "repeats")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the CLIs (keras_irdi.tfenv)
    from keras_irdi.data.cifar import load_cifar

    info = machine_info()
    data = load_cifar("cifar10", cifar_dir=args.cifar_dir)
    x, y = data["x_train"][:args.images], data["y_train"][:args.images]
    n_val = max(1, round(args.images * VAL_PER_TRAIN))
    x_val, y_val = data["x_train"][-n_val:], data["y_train"][-n_val:]
    results = {}
    for variant in ("bare_clean", "bare_jpeg", "stage_clean"):
        start = time.perf_counter()
        times = epoch_times(variant, x, y, x_val, y_val, args.repeats, args.seed)
        results[variant] = {"epoch_seconds": times, "median_seconds": round(statistics.median(times), 2),
                            "images_per_second": round(args.images / statistics.median(times), 1),
                            "wall_seconds": round(time.perf_counter() - start, 1)}
        print(variant, results[variant], flush=True)
    med = {k: v["median_seconds"] for k, v in results.items()}
    ratios = {"jpeg_over_clean": round(med["bare_jpeg"] / med["bare_clean"], 3),
              "stage_over_bare": round(med["stage_clean"] / med["bare_clean"], 3)}
    write_result(args.out, {
        "benchmark": "training_speed", "images": args.images, "val_images": n_val, "batch_size": 128,
        "results": results, "ratios": ratios,
        "goals": {"jpeg_over_clean": "<= 1.1", "stage_over_bare": "<= 1.1"}}, info, __file__, argv)
    print(f"jpeg/clean {ratios['jpeg_over_clean']}, stage/bare {ratios['stage_over_bare']} -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
