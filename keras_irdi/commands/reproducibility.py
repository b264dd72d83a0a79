"""`irdi reproducibility`: put new runs' key numbers beside a previous run's: results/REPRODUCIBILITY.md.

    irdi reproducibility --compare jpeg_cifar10 REV:results/small_jpeg_cifar10 \\
        results/small_v1_jpeg_cifar10 results/small_v1_jpeg_cifar10_seed1 --out results/REPRODUCIBILITY.md

Each --compare names the sweep (``<degradation>_<dataset>``), the previous results folder (a folder,
``REV:path`` to read it from git, or ``none`` for the first run of a sweep) and one or more new ones. Interval
accuracies (beside the paper's, where it has the table), CPSNR gains and level MAE with their differences;
claim verdicts with, for each change, whether the previous deciding difference lies inside the new run's 95 %
bootstrap CI.
"""
from pathlib import Path

from keras_irdi.commands.cli import ArgumentParser, command_line
from keras_irdi.reporting.reproducibility import Results, compare


def main(argv=None) -> None:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", nargs="+", action="append", required=True, metavar="ARG",
                    help="SWEEP PREVIOUS NEW [NEW ...] (PREVIOUS: a folder, REV:folder, or none)")
    ap.add_argument("--note", default="", help="a paragraph on what differs between the runs by design")
    ap.add_argument("--out", default="results/REPRODUCIBILITY.md")
    args = ap.parse_args(argv)
    for group in args.compare:
        if len(group) < 3:
            ap.error(f"--compare needs SWEEP PREVIOUS NEW [NEW ...], got {' '.join(group)}")
    command = command_line("evaluate/reproducibility.py", argv)
    lines = ["# Do the published numbers reproduce?", "", f"Made by `{command}`: every number comes from the "
             "results folders' tables; diff = new - previous. A verdict's change is *inside the CI* when the "
             "previous run's deciding difference lies inside the new run's 95 % paired bootstrap CI (test images "
             "resampled), i.e. resampling the test images alone could explain it.", ""]
    lines += [args.note, ""] if args.note else []
    for sweep, previous, *new in args.compare:
        lines += compare(Results(previous, Path.cwd()), [Results(n, Path.cwd()) for n in new], sweep)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
