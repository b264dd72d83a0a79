#!/usr/bin/env python
"""Stage 3: train the VGG-like classifier on clean, degraded or restored CIFAR (cross-entropy, Adamax).

--data clean -> Cla(org); degraded -> Cla(deg); restored -> Cla(res) (needs the restoration stage).
Warm-start presets (small) first train a shared base on clean images (--base); the three classifiers
then fine-tune it, each on its own data (--epochs etc. then set the fine-tune schedule).
The same as `irdi train --stage cla_org|cla_deg|cla_res|cla_base`.
"""
import sys

from keras_irdi.commands.cli import main_wrapper, run_parser
from keras_irdi.commands.train import train_stage


def main(argv=None):
    ap = run_parser(__doc__)
    ap.add_argument("--data", choices=("clean", "degraded", "restored"), required=True,
                    help="what the classifier is trained on")
    ap.add_argument("--base", action="store_true",
                    help="train the shared clean-image base that warm-start presets fine-tune from")
    args = ap.parse_args(argv)
    from keras_irdi.training.stage_configs import classifier_stage
    from keras_irdi.training.stages import train_classifier

    # --base with other data is refused by train_classifier, in the words of these options.
    stage = classifier_stage("clean" if args.base else args.data, base=args.base)
    train_stage(args, stage, trainer=lambda run, config, _: train_classifier(run, config, args.data, base=args.base))


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
