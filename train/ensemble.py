#!/usr/bin/env python
"""Stage 4: train the ensemble-weight net inside the Proposed network, every other weight frozen."""
import sys

from keras_irdi.commands.cli import apply_stage_overrides, main_wrapper, open_run_from_args, run_parser


def main(argv=None):
    args = run_parser(__doc__).parse_args(argv)
    run, config = open_run_from_args(args)
    apply_stage_overrides(config.preset.weight_net.train, args)
    from keras_irdi.training.stages import train_weight_net
    train_weight_net(run, config)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
