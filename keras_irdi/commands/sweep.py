"""`irdi sweep`: accuracy of the six networks at every degradation level of a trained run (plus CPSNR, level error,
ensemble weights): writes RUN/eval/<degradation>_<dataset>.csv and .json."""
import argparse
import math

from keras_irdi.commands.cli import ArgumentParser, positive_int


def level_list(text: str) -> list:
    """argparse type of --levels: comma-separated numbers (their range is the run's, checked before any work)."""
    try:
        levels = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 10,50,90, got {text!r}") from None
    if not all(math.isfinite(v) for v in levels):
        raise argparse.ArgumentTypeError(f"levels must be finite numbers, got {text!r}")
    return levels


def main(argv=None):
    ap = ArgumentParser(description=__doc__)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--limit", type=positive_int, default=None, help="first N test images only (deterministic)")
    ap.add_argument("--levels", type=level_list, default=None,
                    help="comma-separated levels instead of the full range")
    ap.add_argument("--step", type=positive_int, default=None, help="level step (default: the preset's)")
    ap.add_argument("--batch-size", type=positive_int, default=500)
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                    help="float32 (default): what the exports serve; bfloat16: the convolutional stages in mixed "
                         "bfloat16, 1.8-2x faster on a CPU with bf16 units (bench/results/precision.md)")
    ap.add_argument("--force", action="store_true",
                    help="replace RUN/eval's sweep even if it has more levels or images than this one")
    ap.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines on stderr")
    ap.add_argument("--data-dir", "--cifar-dir", dest="data_dir", default=None, metavar="DIR",
                    help="the dataset's local copy; default: the run's (shipped models: IRDI_CIFAR_DIR or "
                         "keras.datasets)")
    args = ap.parse_args(argv)
    from keras_irdi.evaluation.level_sweep import run_sweep
    result = run_sweep(args.run_dir, limit=args.limit, levels=args.levels, step=args.step,
                       batch_size=args.batch_size, data_dir=args.data_dir, force=args.force,
                       precision=args.precision)
    print(f"sweep: {len(result['rows'])} levels x {result['n_images']} images in {result['seconds']} s -> "
          f"{args.run_dir}/eval/{result['degradation']}_{result['dataset']}.csv")
