"""`irdi`: the project's one installed command; `irdi SUB --help` describes each subcommand.

Each subcommand is a function of this package (``keras_irdi.commands`` or ``keras_irdi.serving``); the scripts
in train/, evaluate/ and figures/ and the `irdi-predict/-restore/-export` commands call the same functions.
"""
from __future__ import annotations

import importlib
import sys

# name -> (module:function, its error boundary, one line of help). Boundary "wrap": the function is run
# behind keras_irdi.errors.main_wrapper; "own": it returns its exit status with a boundary of its own.
SUBCOMMANDS = {
    "train": ("keras_irdi.commands.train:main", "wrap",
              "train every stage of a run (or one: --stage), then sweep, tables and figures"),
    "sweep": ("keras_irdi.commands.sweep:main", "wrap",
              "accuracy of the six networks at every degradation level of a trained run"),
    "tables": ("keras_irdi.commands.reports:tables_main", "wrap", "a run's result tables, from its sweep"),
    "figures": ("keras_irdi.commands.reports:figures_main", "wrap", "a run's figures, from its sweep"),
    "publish": ("keras_irdi.commands.publish:run", "own",
                "copy a run's results (and models) into folders fit to commit"),
    "reproducibility": ("keras_irdi.commands.reproducibility:main", "wrap",
                        "new runs' numbers beside a previous run's (results/REPRODUCIBILITY.md)"),
    "predict": ("keras_irdi.serving.predict:main", "own", "classify image files with a trained run or an export"),
    "restore": ("keras_irdi.serving.restore:main", "own", "restore degraded image files with a run's restoration net"),
    "export": ("keras_irdi.serving.export:main", "own", "export a run as one SavedModel (TF Serving) or ONNX"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: irdi SUBCOMMAND [options]   (irdi SUBCOMMAND --help: its options)", "",
             "Classifying degraded images over various levels of degradation (Endo et al., ICIP 2020).", "",
             "subcommands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    from keras_irdi.tfenv import command_name

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: irdi has no subcommand {name!r}; it has {', '.join(SUBCOMMANDS)} (irdi --help)",
              file=sys.stderr)
        return 2
    target, boundary, _ = SUBCOMMANDS[name]
    module, function = target.split(":")
    fn = getattr(importlib.import_module(module), function)
    with command_name(f"irdi {name}"):
        if boundary == "own":
            return fn(rest)
        from keras_irdi.errors import main_wrapper

        return main_wrapper(fn, rest)


if __name__ == "__main__":
    sys.exit(main())
