#!/usr/bin/env python
"""The whole paper in one command: the four training stages, then the sweep, tables and figures.

Stages whose artefacts already exist with the same config are skipped (--force retrains them).
"""
import sys
from pathlib import Path

from keras_irdi.commands.cli import main_wrapper, open_run_from_args, run_parser
from keras_irdi.errors import MissingError


def main(argv=None):
    ap = run_parser(__doc__, schedule_options=False)
    ap.add_argument("--force", action="store_true", help="retrain every stage")
    ap.add_argument("--no-eval", action="store_true", help="stop after training")
    ap.add_argument("--reuse-from", default=None, metavar="RUN",
                    help="copy stages trained with the identical config from another run directory "
                         "(e.g. Cla(org), which no degradation affects) instead of training them")
    args = ap.parse_args(argv)
    if args.reuse_from is not None and not (Path(args.reuse_from) / "manifest.json").is_file():
        raise MissingError(f"--reuse-from {args.reuse_from} is not a run directory (no manifest.json)")
    run, config = open_run_from_args(args)
    print(config.preset.describe(), flush=True)
    from keras_irdi.commands.run_everything import run_everything
    run_everything(run, config, force=args.force, evaluate=not args.no_eval, reuse_from=args.reuse_from)


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
