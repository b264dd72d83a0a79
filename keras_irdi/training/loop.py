"""What the two training loops share: ``fitting.fit_stage`` (Keras ``fit``) and ``multiworker.fit_multiworker``
(the custom loop under MultiWorkerMirroredStrategy) both train a stage as one protocol, written once here.

1. ``StagePlan.start``: build the stage's stream for the whole schedule (its length sets the learning-rate
   schedule), note whether an interrupted attempt left checkpoints (its logged epochs are kept: append).
2. The loop compiles (``make_optimizer``) and restores its last checkpoint: ``first`` epochs done.
3. ``StagePlan.resume(first)``: a stage killed after its last checkpoint but before it was saved is finished (its
   last logged epoch is the result); else the stream is rebuilt for the epochs left, so a resumed stage replays
   exactly what an uninterrupted one would have seen (every draw is a function of (seed, epoch, batch)).
4. The loop runs epochs ``first .. epochs``, writing ``logs/<stage>.csv`` and ``logs/tb/<stage>/`` and a
   checkpoint in ``RUN/backup/<stage>/`` per epoch; the run's ``chief`` alone writes into the run directory.

The checkpoints differ: ``fit`` keeps Keras's BackupAndRestore files, the multi-worker loop a
``tf.train.CheckpointManager`` (each worker saves, the others into scratch folders, which BackupAndRestore
cannot do outside ``fit``). Neither reads the other's, so a stage interrupted under one loop resumes only under
it (``CHECKPOINT_MARKERS``; ``StagePlan.start`` says so in one line instead of silently starting over).
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from keras_irdi.errors import InputError
from keras_irdi.runs.directory import RunDir

# The file each loop's checkpoints leave in RUN/backup/<stage>/, and the --strategy values that run that loop.
CHECKPOINT_MARKERS = {"fit": ("training_metadata.json", "default or mirrored"),
                      "multiworker": ("checkpoint", "multiworker")}


def make_optimizer(stage_cfg, steps_per_epoch: int):
    """The stage's optimizer (Adamax, the paper's, unless the preset says otherwise) and its schedule."""
    import keras

    lr = stage_cfg.learning_rate
    if stage_cfg.schedule == "warmup_cosine":
        total = stage_cfg.epochs * steps_per_epoch
        warmup = min(int(round(stage_cfg.warmup_epochs * steps_per_epoch)), total - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr * stage_cfg.warmup_start if warmup else lr,
            decay_steps=max(1, total - warmup), alpha=0.0,
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    optimizer = {"adamax": keras.optimizers.Adamax, "adam": keras.optimizers.Adam}[stage_cfg.optimizer]
    return optimizer(learning_rate=lr)


def last_logged(csv_path) -> dict:
    """The last epoch's metrics from the stage's CSV log."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for k, v in rows[-1].items() if k != "epoch"}


@dataclass
class StagePlan:
    """One stage's training as both loops run it (steps 1 and 3 of the protocol above)."""

    run: RunDir
    stage: str
    epochs: int
    train_epochs: object  # (first, stop) -> the training stream of those epochs
    stream: object = None
    steps: int = 0
    append: bool = False  # an interrupted attempt's epochs stay in the CSV log

    @classmethod
    def start(cls, run: RunDir, stage: str, train_epochs, stage_cfg, loop: str = "fit") -> "StagePlan":
        """``loop``: "fit" or "multiworker", the loop about to train (a key of ``CHECKPOINT_MARKERS``)."""
        from keras_irdi.data.pipelines import batches_per_epoch

        backup = run.backup_dir(stage)
        for other, (marker, strategies) in CHECKPOINT_MARKERS.items():
            if other != loop and (backup / marker).exists():
                raise InputError(f"{backup} holds the checkpoints of {stage} interrupted under --strategy "
                                 f"{strategies}; resume with that strategy, or delete the folder to restart "
                                 "the stage from epoch 0")

        total = (0, stage_cfg.epochs)
        # Built once for the whole schedule; rebuilt only when a resume starts later. Each build converts the
        # stage's arrays to tensors, so building it twice would raise the stage's peak memory (Cla(res)'s most).
        stream = train_epochs(total)
        return cls(run, stage, stage_cfg.epochs, train_epochs, stream, batches_per_epoch(stream, total),
                   append=backup.exists())

    @property
    def backup(self) -> Path:
        return self.run.backup_dir(self.stage)

    @property
    def csv_path(self) -> Path:
        return self.run.log_dir() / f"{self.stage}.csv"

    @property
    def tensorboard_dir(self) -> Path:
        return self.run.log_dir() / "tb" / self.stage

    def resume(self, first: int) -> dict | None:
        """After the restore (``first`` epochs done): the result if the stage had already finished (its
        checkpoints removed), else None with ``stream`` covering the epochs left."""
        if first >= self.epochs:  # killed after the last checkpoint, before the stage was saved
            if self.run.chief:
                shutil.rmtree(self.backup, ignore_errors=True)
            return last_logged(self.csv_path)
        if first:
            self.stream = None  # release the full stream's tensors before the shorter one is built
            self.stream = self.train_epochs((first, self.epochs))
        return None
