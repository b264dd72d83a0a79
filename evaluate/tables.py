"""Rebuild the result tables of a run from its sweep CSVs (no TensorFlow needed).

    python evaluate/tables.py --run-dir RUN [--out DIR]

Reads RUN/eval/<degradation>_<dataset>.csv (written by evaluate/sweep.py) and writes
RUN/tables/<degradation>_<dataset>_{intervals,psnr,comparison,claims,cifar_c,mechanism}.{md,csv} and
RUN/tables/SUMMARY.md (or into --out).
"""
from __future__ import annotations

import argparse
import sys

from keras_irdi.cli import main_wrapper
from keras_irdi.tables import write_all_tables


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="run directory holding eval/<deg>_<dataset>.csv")
    parser.add_argument("--out", default=None, help="output directory (default: RUN/tables)")
    args = parser.parse_args(argv)
    written = write_all_tables(args.run_dir, args.out)
    print(f"wrote {len(written)} files; summary: {written[-1]}")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
