#!/usr/bin/env python
"""Stage 4: train the ensemble-weight net inside the Proposed network, every other weight frozen.

The same as `irdi train --stage weight_net`."""
import sys

from keras_irdi.commands.cli import main_wrapper, run_parser
from keras_irdi.commands.train import train_stage


def main(argv=None):
    train_stage(run_parser(__doc__).parse_args(argv), "weight_net")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
