"""`irdi train`'s job (without --stage): every training stage, then the sweep, the tables and the figures."""
from __future__ import annotations

import time

from keras_irdi.runs.directory import RunDir


def run_everything(run: RunDir, config, force: bool = False, evaluate: bool = True,
                   sweep_limit: int | None = None, reuse_from=None) -> None:
    from keras_irdi.training.stages import train_all

    start = time.time()
    trained = train_all(run, config, force=force, reuse_from=reuse_from)
    if evaluate and run.chief:  # a multiworker cluster: the chief evaluates
        from keras_irdi.evaluation.level_sweep import run_sweep
        from keras_irdi.reporting.plots import make_figures
        from keras_irdi.reporting.tables import write_all_tables

        print("[sweep] evaluating the six networks over every level", flush=True)
        from keras_irdi.errors import ExistsError

        try:  # stages trained now make any older sweep stale; otherwise a fuller one is kept
            run_sweep(run.path, limit=sweep_limit, force=force or bool(trained))
        except ExistsError as err:
            print(f"[sweep] skipped: {err}", flush=True)
        tables = write_all_tables(run.path)
        figures = make_figures(run.path)
        print(f"[report] {len(tables)} table files in {run.path / 'tables'}, "
              f"{len(figures)} figure files in {run.path / 'figures'}", flush=True)
    manifest = run.manifest()
    eval_seconds = sum(e.get("seconds", 0) for e in manifest.get("eval", {}).values())
    # The run's cost: every stage's training time plus the sweep (tables and figures take seconds);
    # command_seconds is this command's own wall time.
    run.update_manifest(total_seconds=round(manifest.get("training_seconds", 0) + eval_seconds, 1),
                        command_seconds=round(time.time() - start, 1))
    print(f"[all] finished in {(time.time() - start) / 60:.1f} min; results in {run.path}", flush=True)
