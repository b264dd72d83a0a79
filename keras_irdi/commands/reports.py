"""`irdi tables` and `irdi figures`: a run's result tables and figures, rebuilt from its sweep CSVs (no
TensorFlow needed)."""
from __future__ import annotations


def tables_main(argv=None) -> None:
    """Rebuild the result tables of a run from its sweep CSVs.

    Reads RUN/eval/<degradation>_<dataset>.csv (written by `irdi sweep`) and writes
    RUN/tables/<degradation>_<dataset>_{intervals,psnr,comparison,claims,cifar_c,mechanism}.{md,csv} and
    RUN/tables/SUMMARY.md (or into --out).
    """
    from keras_irdi.commands.cli import report_main
    from keras_irdi.reporting.tables import write_all_tables

    report_main(argv, tables_main.__doc__, "RUN/tables", write_all_tables)


def figures_main(argv=None) -> None:
    """Draw the figures of a run from its sweep CSVs.

    Reads RUN/eval/<degradation>_<dataset>.csv (and *_examples.npz if present) and writes PNG and PDF
    files into RUN/figures (or --out): accuracy, CPSNR, level estimate, ensemble weights, interval
    means vs the paper, example images.
    """
    from keras_irdi.commands.cli import report_main
    from keras_irdi.reporting.plots import make_figures

    report_main(argv, figures_main.__doc__, "RUN/figures", make_figures)
