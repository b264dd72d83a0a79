"""Rebuild the result tables of a run from its sweep CSVs (no TensorFlow needed).

    python evaluate/tables.py --run-dir RUN [--out DIR]

Reads RUN/eval/<degradation>_<dataset>.csv (written by evaluate/sweep.py) and writes
RUN/tables/<degradation>_<dataset>_{intervals,psnr,comparison,claims,cifar_c,mechanism}.{md,csv} and
RUN/tables/SUMMARY.md (or into --out).
"""
from __future__ import annotations

import sys

from keras_irdi.commands.cli import main_wrapper, report_main
from keras_irdi.reporting.tables import write_all_tables


def main(argv=None) -> None:
    report_main(argv, __doc__, "RUN/tables", write_all_tables)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
