#!/usr/bin/env python
"""Accuracy of the six networks at every degradation level of a trained run (plus CPSNR, level error,
ensemble weights): writes RUN/eval/<degradation>_<dataset>.csv and .json."""
import sys

from keras_irdi.commands.cli import ArgumentParser, main_wrapper


def main(argv=None):
    ap = ArgumentParser(description=__doc__)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N test images only (deterministic)")
    ap.add_argument("--levels", default=None, help="comma-separated levels instead of the full range")
    ap.add_argument("--step", type=int, default=None, help="level step (default: the preset's)")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--cifar-dir", default=None,
                    help="local CIFAR copy; default: the run's (shipped models: IRDI_CIFAR_DIR or keras.datasets)")
    args = ap.parse_args(argv)
    levels = [float(v) for v in args.levels.split(",")] if args.levels else None
    from keras_irdi.evaluation.level_sweep import run_sweep
    result = run_sweep(args.run_dir, limit=args.limit, levels=levels, step=args.step, batch_size=args.batch_size,
                       cifar_dir=args.cifar_dir)
    print(f"sweep: {len(result['rows'])} levels x {result['n_images']} images in {result['seconds']} s -> "
          f"{args.run_dir}/eval/{result['degradation']}_{result['dataset']}.csv")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
