#!/usr/bin/env python
"""Stage 4: train the ensemble-weight net inside the Proposed network, every other weight frozen."""
import sys

from keras_irdi.commands.cli import main_wrapper, stage_main


def main(argv=None):
    stage_main(argv, __doc__, "train_weight_net", lambda config: config.preset.weight_net.train)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
