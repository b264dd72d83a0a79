"""Draw the figures of a run from its sweep CSVs (no TensorFlow needed).

    python figures/make_figures.py --run-dir RUN [--out DIR]

Reads RUN/eval/<degradation>_<dataset>.csv (and *_examples.npz if present) and writes PNG and PDF
files into RUN/figures (or --out): accuracy, CPSNR, level estimate, ensemble weights, interval
means vs the paper, example images.
"""
from __future__ import annotations

import sys

from keras_irdi.commands.cli import main_wrapper, report_main
from keras_irdi.reporting.plots import make_figures


def main(argv=None) -> None:
    report_main(argv, __doc__, "RUN/figures", make_figures)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
