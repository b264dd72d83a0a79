#!/usr/bin/env python
"""Stage 2: train the degradation-level estimator (MSE on the normalised level, Adamax)."""
import sys

from keras_irdi.commands.cli import apply_stage_overrides, main_wrapper, open_run_from_args, run_parser


def main(argv=None):
    args = run_parser(__doc__).parse_args(argv)
    run, config = open_run_from_args(args)
    apply_stage_overrides(config.preset.estimator.train, args)
    from keras_irdi.training.stages import train_estimator
    train_estimator(run, config)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
