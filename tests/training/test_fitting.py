"""keras_irdi.training.fitting: optimizers and schedules, and resuming from the checkpoints a kill left."""
import csv
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.preset_sections import StageConfig
from keras_irdi.runs.directory import RunDir
from keras_irdi.training.fitting import fit_stage, make_optimizer
from helpers import tiny_model


def test_warmup_cosine_schedule():
    cfg = StageConfig(epochs=4, batch_size=8, learning_rate=0.006, schedule="warmup_cosine", warmup_epochs=0.5,
                      warmup_start=0.1)
    opt = make_optimizer(cfg, steps_per_epoch=100)  # 400 steps, 50 of warm-up
    assert isinstance(opt, keras.optimizers.Adamax)
    lr = opt.learning_rate  # the schedule, called with the step
    schedule = opt._learning_rate
    at = lambda step: float(schedule(step))  # noqa: E731
    assert at(0) == pytest.approx(0.0006)
    assert at(25) == pytest.approx(0.0033, rel=1e-3)  # linear warm-up, halfway
    assert at(50) == pytest.approx(0.006)
    assert at(225) == pytest.approx(0.003, rel=1e-3)  # cosine halfway
    assert at(400) == pytest.approx(0.0, abs=1e-9)
    assert float(lr) == pytest.approx(0.0006)  # what the optimizer uses at its current step 0


def test_constant_schedule_and_adam():
    opt = make_optimizer(StageConfig(epochs=2, batch_size=8, learning_rate=0.001, optimizer="adam"), 10)
    assert isinstance(opt, keras.optimizers.Adam) and float(opt.learning_rate) == pytest.approx(0.001)


# -- resume: checkpoints cut by a kill ------------------------------------------------------------
def _fit_tiny(run, epochs, callbacks=()):
    """Fit a one-layer stage "tiny" through fit_stage; return the epochs its CSV log lists, in order."""
    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    model = tiny_model()
    fit_stage(run, "tiny", model, lambda e: ds.repeat(e[1] - e[0]), ds, StageConfig(epochs=epochs, batch_size=16),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              extra_callbacks=callbacks)
    return [int(r["epoch"]) for r in csv.DictReader(open(run.log_dir() / "tiny.csv"))]


def _fit_tiny_interrupted(run, epochs, after_epoch):
    """Fit the tiny stage and stop it with Ctrl-C at the end of ``after_epoch`` (checkpoints written)."""
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == after_epoch:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit_tiny(run, epochs, [Interrupt()])


def test_checkpoint_cut_by_a_kill_does_not_block_the_rerun(tmp_path, caplog):
    """The latest checkpoint is cut: the rerun falls back to the previous one (end of epoch 0), losing one
    more epoch, not the stage. The log tells the cases apart: a restart would read 0, 1, 0, 1, 2, 3."""
    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 4, after_epoch=1)
    weights = run.backup_dir("tiny") / "latest.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # what a kill in the middle of save_weights leaves
    with caplog.at_level(logging.WARNING, logger="keras_irdi"):
        epochs = _fit_tiny(run, 4)
    assert epochs == [0, 1, 1, 2, 3], epochs  # epoch 1 redone from the previous checkpoint
    assert "restarting this stage from epoch 0" not in caplog.text


def test_unreadable_single_checkpoint_restarts_the_stage(tmp_path, caplog):
    """No good copy left at all: the stage restarts from epoch 0 (warned) instead of failing forever.
    A resume would log 0, 1, 2; the restart logs epoch 0 twice."""
    run = RunDir(tmp_path / "run")
    _fit_tiny_interrupted(run, 3, after_epoch=0)
    backup = run.backup_dir("tiny")
    for f in backup.glob("*.h5*"):
        f.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="keras_irdi"):
        epochs = _fit_tiny(run, 3)
    assert epochs == [0, 0, 1, 2], epochs
    assert "is unreadable" in caplog.text and "restarting this stage from epoch 0" in caplog.text
