#!/usr/bin/env python
"""Stage 3: train the VGG-like classifier on clean, degraded or restored CIFAR (cross-entropy, Adamax).

--data clean -> Cla(org); degraded -> Cla(deg); restored -> Cla(res) (needs the restoration stage).
Warm-start presets (small) first train a shared base on clean images (--base); the three classifiers
then fine-tune it, each on its own data (--epochs etc. then set the fine-tune schedule).
"""
import sys

from keras_irdi.commands.cli import apply_stage_overrides, main_wrapper, open_run_from_args, run_parser


def main(argv=None):
    ap = run_parser(__doc__)
    ap.add_argument("--data", choices=("clean", "degraded", "restored"), required=True,
                    help="what the classifier is trained on")
    ap.add_argument("--base", action="store_true",
                    help="train the shared clean-image base that warm-start presets fine-tune from")
    args = ap.parse_args(argv)
    run, config = open_run_from_args(args)
    apply_stage_overrides(config.preset.classifier_schedule(base=args.base), args)
    from keras_irdi.training.stages import train_classifier
    train_classifier(run, config, args.data, base=args.base)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
