"""`irdi train`: every training stage of a run, then the sweep, tables and figures; or one stage (--stage).

Stages whose artefacts already exist with the same config are skipped (--force retrains them). The stages
are the registry's (``keras_irdi.stage_registry``); `python train/all.py` and the per-stage scripts in
``train/`` call the functions here.
"""
from __future__ import annotations

from pathlib import Path

from keras_irdi.commands.cli import apply_stage_overrides, open_run_from_args, run_parser
from keras_irdi.errors import InputError, MissingError
from keras_irdi.stage_registry import all_stages, get_stage


def parser(description: str = __doc__.split("\n\n")[0]):
    ap = run_parser(description)
    ap.add_argument("--stage", choices=[s.name for s in all_stages()], default=None,
                    help="train this stage only (always, even if it is up to date); "
                         + "; ".join(f"{s.name}: {s.help}" for s in all_stages() if s.help))
    ap.add_argument("--force", action="store_true", help="retrain every stage")
    ap.add_argument("--no-eval", action="store_true", help="stop after training")
    ap.add_argument("--reuse-from", default=None, metavar="RUN",
                    help="copy stages trained with the identical config from another run directory "
                         "(e.g. Cla(org), which no degradation affects) instead of training them")
    return ap


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.stage is not None:
        extra = [o for o, v in (("--force", args.force), ("--no-eval", args.no_eval),
                                ("--reuse-from", args.reuse_from)) if v]
        if extra:
            raise InputError(f"{', '.join(extra)} apply to a whole run; with --stage the stage is always trained")
        train_stage(args, args.stage)
        return
    if args.epochs is not None or args.batch_size is not None:
        raise InputError("--epochs and --batch-size set one stage's schedule: give --stage too "
                         "(a whole run trains every stage with its preset's schedules)")
    train_everything(args)


def train_everything(args) -> None:
    """Every stage the run's preset trains, then (unless --no-eval) the sweep, tables and figures."""
    if args.reuse_from is not None and not (Path(args.reuse_from) / "manifest.json").is_file():
        raise MissingError(f"--reuse-from {args.reuse_from} is not a run directory (no manifest.json)")
    run, config = open_run_from_args(args)
    print(config.preset.describe(), flush=True)
    from keras_irdi.commands.run_everything import run_everything

    run_everything(run, config, force=args.force, evaluate=not args.no_eval, reuse_from=args.reuse_from)


def train_stage(args, stage: str, trainer=None) -> dict:
    """One stage of the run the options describe, --epochs/--batch-size applied to its schedule (not to the
    run's stored preset); ``trainer(run, config, stage)``: the registered one unless given."""
    run, config = open_run_from_args(args)
    apply_stage_overrides(config.preset.for_degradation(config.degradation).schedule(stage), args)
    return (trainer or get_stage(stage).train_function())(run, config, stage)
