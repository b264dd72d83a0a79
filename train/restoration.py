#!/usr/bin/env python
"""Stage 1: train the restoration net on degraded/clean patch pairs (MSE, Adamax).

The same as `irdi train --stage restoration`."""
import sys

from keras_irdi.commands.cli import main_wrapper, run_parser
from keras_irdi.commands.train import train_stage


def main(argv=None):
    train_stage(run_parser(__doc__).parse_args(argv), "restoration")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
