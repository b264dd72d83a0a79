#!/usr/bin/env python
"""Stage 1: train the restoration net on degraded/clean patch pairs (MSE, Adamax)."""
import sys

from keras_irdi.commands.cli import apply_stage_overrides, main_wrapper, open_run_from_args, run_parser


def main(argv=None):
    args = run_parser(__doc__).parse_args(argv)
    run, config = open_run_from_args(args)
    # The resolved schedule is the preset's own object (per degradation or not), so the override reaches it.
    apply_stage_overrides(config.preset.for_degradation(config.degradation).restoration.train, args)
    from keras_irdi.training.stages import train_restoration
    train_restoration(run, config)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
