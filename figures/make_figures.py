"""Draw the figures of a run from its sweep CSVs (no TensorFlow needed).

    python figures/make_figures.py --run-dir RUN [--out DIR]

Reads RUN/eval/<degradation>_<dataset>.csv (and *_examples.npz if present) and writes PNG and PDF
files into RUN/figures (or --out): accuracy, CPSNR, level estimate, ensemble weights, interval
means vs the paper, example images.
"""
from __future__ import annotations

import argparse
import sys

from keras_irdi.cli import main_wrapper
from keras_irdi.plots import make_figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="run directory holding eval/<deg>_<dataset>.csv")
    parser.add_argument("--out", default=None, help="output directory (default: RUN/figures)")
    args = parser.parse_args(argv)
    written = make_figures(args.run_dir, args.out)
    folder = written[0].parent if written else args.out
    print(f"wrote {len(written)} files into {folder}")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
