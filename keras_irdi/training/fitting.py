"""The fit loop every stage shares: resumable checkpoints, logs, timing, over Keras ``fit``.

A stage passes a function that builds its training stream for a range of epochs; ``fit_stage`` restores the
last checkpoint first and asks for the epochs left, so a resumed stage replays exactly what an uninterrupted
one would have seen (docs/RELIABILITY.md, "exact resume"). The protocol, the optimizer and the log names are
shared with the multi-worker loop: ``training/loop.py``.
"""
from __future__ import annotations

import logging
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from keras_irdi.errors import ensure_space
from keras_irdi.runs.directory import CHECKPOINT_SLACK, RunDir, state_bytes
from keras_irdi.training.loop import StagePlan, make_optimizer  # noqa: F401 (make_optimizer: importers')

log = logging.getLogger("keras_irdi")

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Summary:
    """Collects what every stage reports: one line on stdout and an entry in the manifest."""

    def __init__(self, run: RunDir, stage: str):
        self.run, self.stage, self.start = run, stage, time.time()
        self.clock = EpochClock(stage)

    def done(self, metrics: dict) -> dict:
        seconds = time.time() - self.start
        from keras_irdi.runs.provenance import code_commit

        entry = {"seconds": round(seconds, 1), "peak_rss_mb": round(_peak_rss_mb(), 1), "commit": code_commit(),
                 "metrics": {k: float(v) for k, v in metrics.items()},
                 "epoch_seconds": self.clock.seconds, "load_avg_1min": self.clock.load}
        self.run.update_manifest(stages={self.stage: entry})
        shown = ", ".join(f"{k}={v:.4g}" for k, v in entry["metrics"].items())
        print(f"[{self.stage}] done in {seconds / 60:.1f} min: {shown}", flush=True)
        return entry


def EpochClock(stage: str):
    """A callback recording each epoch's wall time and the 1-minute load average at its end.

    A load average well above the number of training threads' cores means something else shared the
    machine, so a slow epoch says why (docs/DECISIONS.md: the first runs lost about half their time).
    """
    import keras

    class _EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.load, self._start = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._start, 1))
            self.load.append(round(os.getloadavg()[0], 2))
            print(f"[{stage}] epoch {epoch + 1}: {self.seconds[-1]:.0f} s, load average {self.load[-1]:.2f}",
                  flush=True)

    return _EpochClock()


def checkpoint_space(model, latest: Path, previous: Path) -> int:
    """Free bytes the next per-epoch checkpoint needs: ``latest`` is copied over ``previous`` (grows it to
    ``latest``'s size), then rewritten at about its size; the first one is estimated from the model."""
    if not latest.exists():
        return state_bytes(model) + CHECKPOINT_SLACK
    size = latest.stat().st_size
    return max(0, size - (previous.stat().st_size if previous.exists() else 0)) + CHECKPOINT_SLACK


def _backup_callback(backup_dir, stage: str):
    """BackupAndRestore keeping the previous checkpoint too (a kill during a save leaves one good copy);
    if no readable checkpoint is left, the stage restarts with a warning instead of failing forever.
    Each checkpoint is written only if it fits (``checkpoint_space``): h5py writing into a full disk ends in
    pages of HDF5 errors and a crashed interpreter, and the stage's last checkpoint may be the one cut short.

    ``restore()`` runs before ``fit`` (not in ``on_train_begin``) because the training stream is built
    from the epoch the checkpoint reached: epoch e's data is a function of (seed, e), so the resumed
    stage sees exactly what an uninterrupted one would have."""
    import keras

    class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
        def restore(self, model) -> int:
            """Load the last checkpoint into ``model``; returns the number of epochs it completed."""
            self.set_model(model)
            try:
                super().on_train_begin()
            except OSError as exc:
                log.warning("backup in %s is unreadable (%s); restarting this stage from epoch 0",
                            backup_dir, exc)
                shutil.rmtree(backup_dir, ignore_errors=True)
                self._current_epoch = 0
                model._initial_epoch = 0
            done = getattr(model, "_initial_epoch", 0) or 0  # set by the restore: epochs completed
            self._current_epoch = done
            if done:
                print(f"[{stage}] resuming from epoch {done + 1} (checkpoint in {backup_dir})", flush=True)
            return done

        def on_train_begin(self, logs=None):
            pass  # restored before fit

        def _save_model(self):
            latest, previous = Path(self._weights_path), Path(self._prev_weights_path)
            ensure_space(backup_dir, checkpoint_space(self.model, latest, previous), writing=latest)
            super()._save_model()

    return SafeBackupAndRestore(str(backup_dir), save_freq="epoch", double_checkpoint=True,
                                delete_checkpoint=True)


def _epoch_seeds(seed: int):
    """Reseed the model's own random layers (dropout) from (seed, epoch) at every epoch start: their
    generator state is not in the checkpoint, so without this a resumed epoch would draw new masks."""
    import keras

    from keras_irdi.data.pipelines import seed_random_layers

    class _EpochSeeds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seed_random_layers(self.model, [seed, epoch])

    return _EpochSeeds()


# Test-only: the kill tests (tests/training/test_stages.py, test_multiworker.py) stop a trainer at a point they
# choose instead of after a guessed delay. Never set in a normal run, where the hook adds nothing.
PAUSE_AT_ENV = "IRDI_TEST_PAUSE_AT"  # "E:B": pause once batch B of epoch E is done (both counted from 1)
PAUSE_MARKER_ENV = "IRDI_TEST_PAUSE_MARKER"  # the file written when paused


def _pause_point(stage: str) -> list:
    """Test-only: with ``IRDI_TEST_PAUSE_AT="E:B"`` set, a callback that, once the stage has finished batch B
    of epoch E, writes the file ``IRDI_TEST_PAUSE_MARKER`` (atomically: "stage epoch batch pid") and sleeps
    until a signal ends the process; the test waits for the file, then kills. Unset: no callback."""
    at = os.environ.get(PAUSE_AT_ENV)
    if not at:
        return []
    import keras

    epoch, batch = (int(n) - 1 for n in at.split(":"))  # Keras counts both from 0
    marker = os.environ.get(PAUSE_MARKER_ENV)

    class _PausePoint(keras.callbacks.Callback):
        current = None  # the epoch under way

        def on_epoch_begin(self, e, logs=None):
            self.current = e

        def on_train_batch_end(self, b, logs=None):
            if self.current != epoch or b != batch:
                return
            if marker:
                with open(marker + ".tmp", "w") as f:
                    f.write(f"{stage} {epoch + 1} {batch + 1} {os.getpid()}\n")
                os.replace(marker + ".tmp", marker)
            while True:  # SIGTERM or SIGINT raise KeyboardInterrupt here (errors.main_wrapper); SIGKILL ends it
                time.sleep(60)

    return [_PausePoint()]


def fit_stage(run: RunDir, stage: str, model, train_epochs, val_ds, stage_cfg, loss, metrics=(),
              extra_callbacks=(), clock=None, seed: int = 0):
    """Compile (Adamax by default) and fit, resumable (BackupAndRestore) and logged (CSV + TensorBoard).

    ``train_epochs(epochs)`` builds the training stream for the epochs ``(first, stop)``: a resumed
    stage asks for the epochs left, so it replays the interrupted epoch exactly. Under
    MultiWorkerMirroredStrategy, where Keras 3's fit cannot run, the same stage trains through the custom
    loop of ``keras_irdi.training.multiworker`` (same loss, optimizer, schedule, logs and resume).
    """
    import keras

    from keras_irdi.training.multiworker import fit_multiworker, is_multiworker

    extra_callbacks = (*extra_callbacks, *_pause_point(stage))  # test-only; nothing unless IRDI_TEST_PAUSE_AT is set
    if is_multiworker(model.distribute_strategy):  # Keras 3's fit cannot run it (keras-team/keras#20585)
        return fit_multiworker(run, stage, model, train_epochs, val_ds, stage_cfg, loss, metrics=metrics,
                               extra_callbacks=extra_callbacks, clock=clock, seed=seed)
    plan = StagePlan.start(run, stage, train_epochs, stage_cfg)
    run.log_dir().mkdir(parents=True, exist_ok=True)
    backup_cb = _backup_callback(plan.backup, stage)
    with model.distribute_strategy.scope():  # the optimizer's variables live where the model's do
        model.compile(optimizer=make_optimizer(stage_cfg, plan.steps), loss=loss, metrics=list(metrics))
        first = backup_cb.restore(model)
    finished = plan.resume(first)
    if finished is not None:
        return finished
    callbacks = [
        backup_cb,
        _epoch_seeds(seed),
        keras.callbacks.CSVLogger(str(plan.csv_path), append=plan.append),
        keras.callbacks.TensorBoard(str(plan.tensorboard_dir), write_graph=False, profile_batch=0),
        *([clock] if clock is not None else []),
        *extra_callbacks,
    ]
    history = model.fit(plan.stream, validation_data=val_ds,
                        epochs=stage_cfg.epochs, initial_epoch=first, steps_per_epoch=plan.steps,
                        callbacks=callbacks, verbose=2 if not sys.stdout.isatty() else 1)
    return {k: v[-1] for k, v in history.history.items() if v}
