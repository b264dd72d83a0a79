#!/usr/bin/env python
"""Stage 1: train the restoration net on degraded/clean patch pairs (MSE, Adamax)."""
import sys

from keras_irdi.commands.cli import main_wrapper, stage_main


def main(argv=None):
    # The resolved schedule is the preset's own object (per degradation or not), so the override reaches it.
    stage_main(argv, __doc__, "train_restoration",
               lambda config: config.preset.for_degradation(config.degradation).restoration.train)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
