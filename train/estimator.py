#!/usr/bin/env python
"""Stage 2: train the degradation-level estimator (MSE on the normalised level, Adamax)."""
import sys

from keras_irdi.commands.cli import main_wrapper, stage_main


def main(argv=None):
    stage_main(argv, __doc__, "train_estimator", lambda config: config.preset.estimator.train)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
