"""Shared command-line plumbing of the `irdi` subcommands (and the scripts in train/, evaluate/, figures/):
options, errors, logging.

User mistakes (bad option values, missing data, missing stages, unwritable run dir) end in one line
``error: ...`` and exit status 2 -- never a TensorFlow stack trace.
"""
from __future__ import annotations

import argparse
import os

from keras_irdi.datasets import DATASETS
from keras_irdi.degradations import DEGRADATIONS
from keras_irdi.errors import InputError, main_wrapper  # noqa: F401 (the CLIs import it from here)
from keras_irdi.preset_sections import PRECISIONS
from keras_irdi.presets import PRESETS
from keras_irdi.tfenv import ArgumentParser, seed_argument


def positive_int(text: str) -> int:
    """argparse type of counts (--epochs, --batch-size): a bad one fails in parsing, before TF loads."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def dataset_option(text: str) -> str:
    """argparse type of --dataset: a registered name, or NAME:PATH (``folder:PATH``), checked before TF loads."""
    from keras_irdi.datasets import parse_dataset

    try:
        parse_dataset(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def run_parser(description: str) -> argparse.ArgumentParser:
    """The options of a run's training: which run, its preset, data, seed, precision and strategy, and the
    schedule of one stage (--epochs/--batch-size)."""
    ap = ArgumentParser(description=description)
    ap.add_argument("--run-dir", required=True, help="run directory (created if needed)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="size preset; default: the run's, or 'small' for a new run")
    ap.add_argument("--degradation", choices=sorted(DEGRADATIONS), default=None,
                    help="degradation; default: the run's, or 'jpeg'")
    ap.add_argument("--dataset", type=dataset_option, default=None, metavar="{" + ",".join(DATASETS) + "}[:PATH]",
                    help="classification data set; default: the run's, or 'cifar10'. "
                         + "; ".join(f"{d.name}: {d.help}" for d in DATASETS.values()))
    ap.add_argument("--data-dir", "--cifar-dir", dest="data_dir", default=None, metavar="DIR",
                    help="the dataset's local copy (CIFAR: python-pickle layout or .npz; env IRDI_CIFAR_DIR); "
                         "default for CIFAR: keras.datasets download cache (smoke preset: the bundled subset)")
    ap.add_argument("--clean-dir", nargs="+", default=None, metavar="DIR",
                    help="folders of clean photos for the restoration net and level estimator "
                         "(e.g. T91 Urban100); default: scikit-image's bundled photos")
    ap.add_argument("--epochs", type=positive_int, default=None,
                    help="override the preset's epochs for this stage")
    ap.add_argument("--batch-size", type=positive_int, default=None, help="override the preset's batch size")
    ap.add_argument("--seed", type=seed_argument, default=None, help="random seed (default 0)")
    ap.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="training precision of the convolutional stages: auto (bfloat16 where the CPU or GPU "
                         "has bf16 units, else float32) or a named one; default: the run's, else the preset's")
    ap.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default=None,
                    help="tf.distribute strategy: mirrored for several devices of one machine, "
                         "multiworker for several machines (TF_CONFIG on each; docs/USAGE.md, 'Several devices')")
    ap.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines on stderr")
    return ap


def open_run_from_args(args):
    """Create or reopen the run that the options describe."""
    from keras_irdi.datasets import parse_dataset
    from keras_irdi.presets import get_preset
    from keras_irdi.runs.config import RunConfig, open_run
    from keras_irdi.runs.directory import RunDir

    if args.strategy:  # fail before any work if the strategy cannot train here
        from keras_irdi.runs.config import get_strategy

        get_strategy(args.strategy)
    dataset, data_dir = parse_dataset(args.dataset) if args.dataset else (None, None)
    if data_dir and args.data_dir:
        raise InputError(f"--dataset {args.dataset} names its folder; leave out --data-dir {args.data_dir}")
    data_dir = data_dir or args.data_dir
    exists = "config" in RunDir(args.run_dir).manifest()
    config = None
    if not exists or args.preset or args.degradation or dataset or args.seed is not None:
        stored = RunDir(args.run_dir).manifest().get("config", {})
        config = RunConfig(
            degradation=args.degradation or stored.get("degradation", "jpeg"),
            dataset=dataset or stored.get("dataset", "cifar10"),
            preset=get_preset(args.preset or stored.get("preset", {}).get("name", "small")),
            seed=args.seed if args.seed is not None else stored.get("seed", 0))
    clean_dirs = [os.path.abspath(d) for d in args.clean_dir] if args.clean_dir else None
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
    preset_name = config.preset.name if config is not None else None
    if data_dir is None and not os.environ.get("IRDI_CIFAR_DIR") and preset_name == "smoke" and \
            (config.dataset == "cifar10"):
        from keras_irdi.data.cifar import BUNDLED_CIFAR10

        data_dir = str(BUNDLED_CIFAR10)  # offline on a fresh clone: the smoke run needs only 1400 images
        print(f"smoke preset without --data-dir: using the bundled CIFAR-10 subset ({BUNDLED_CIFAR10.name})",
              flush=True)
    run, config = open_run(args.run_dir, config, precision=args.precision, data_dir=data_dir,
                           clean_dirs=clean_dirs, strategy=args.strategy)
    return run, config


def apply_stage_overrides(cfg, args) -> None:
    """--epochs / --batch-size apply to the schedule (a StageConfig) of the stage being run, not to the
    run's stored preset."""
    if args.epochs is not None:
        cfg.epochs = args.epochs
    if args.batch_size is not None:
        cfg.batch_size = args.batch_size


def report_main(argv, doc: str, default_out: str, write) -> None:
    """The report CLIs (tables, figures): --run-dir and --out, then ``write(run_dir, out)`` -> files written."""
    ap = ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, help="run directory holding eval/<deg>_<dataset>.csv")
    ap.add_argument("--out", default=None, help=f"output directory (default: {default_out})")
    args = ap.parse_args(argv)
    written = write(args.run_dir, args.out)
    folder = written[0].parent if written else args.out
    print(f"wrote {len(written)} files into {folder}")


def command_line(script: str, argv=None) -> str:
    """How the user ran this command, to quote back: ``irdi SUB ...`` under the irdi command, else
    ``python SCRIPT ...``; ``argv``: the options (None: this process's own command line)."""
    from keras_irdi.runs.provenance import typed_command
    from keras_irdi.tfenv import prog_name

    if argv is None:
        return typed_command()
    name = prog_name()
    return typed_command([*(name.split() if name else [script]), *map(str, argv)])
