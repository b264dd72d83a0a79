#!/usr/bin/env python
"""Stage 2: train the degradation-level estimator on degraded patches (MSE, Adamax).

The same as `irdi train --stage estimator`."""
import sys

from keras_irdi.commands.cli import main_wrapper, run_parser
from keras_irdi.commands.train import train_stage


def main(argv=None):
    train_stage(run_parser(__doc__).parse_args(argv), "estimator")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
