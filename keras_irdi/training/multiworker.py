"""Training on several machines: the custom loop every stage runs under MultiWorkerMirroredStrategy.

Keras 3's ``fit`` cannot run under this strategy (keras-team/keras#20585), so ``fitting.fit_stage`` hands the
stage to ``fit_multiworker``, with the semantics of ``fit``: the same loss (each example's, averaged over the
global batch, plus the model's regularisation), optimizer and learning-rate schedule (``make_optimizer``),
dropout reseeded per epoch, per-epoch CSV and TensorBoard logs, a checkpoint per epoch and an exact resume.

Data: every worker builds the stage's global stream (every draw is a function of (seed, epoch, batch), so all
build the same one) and keeps its replicas' slices of each global batch: replica r of N takes rows
[b*r//N, b*(r+1)//N) of a batch of b. The loss divides by b, carried in the element, so the short last batch
of an epoch weighs as it does in ``fit`` and every worker runs the same number of steps. Who writes what, and
how the peers are found: ``keras_irdi.runs.cluster``.
"""
from __future__ import annotations

import csv
import logging
import shutil
import tempfile

from keras_irdi.runs.directory import CHECKPOINT_SLACK, RunDir, state_bytes
from keras_irdi.runs.cluster import _peer_errors, is_chief
from keras_irdi.errors import InputError, ensure_space
from keras_irdi.training.loop import StagePlan, make_optimizer

log = logging.getLogger("keras_irdi")


def is_multiworker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------
def _per_example(fn):
    """A loss or metric function -> each example's value (the mean over its other axes)."""
    import tensorflow as tf

    def per_example(y, pred):
        values = tf.convert_to_tensor(fn(y, pred))
        rank = values.shape.rank
        return tf.reduce_mean(values, axis=list(range(1, rank))) if rank and rank > 1 else values

    return per_example


def _loss_fn(loss):
    import keras

    if isinstance(loss, keras.losses.Loss):
        return _per_example(loss.call)
    return _per_example(keras.losses.get(loss))


def _accuracy(y, pred):
    """Each example's sparse categorical accuracy (keras.metrics' function returns the batch mean)."""
    import tensorflow as tf

    labels = tf.cast(tf.reshape(y, [-1]), tf.int64)
    return tf.cast(tf.equal(tf.argmax(pred, axis=-1), labels), tf.float32)


def _mae(y, pred):
    import tensorflow as tf

    return tf.abs(tf.cast(y, pred.dtype) - pred)


METRICS = {"accuracy": _accuracy, "mae": _mae}  # the metrics the stages log, per example


def _metric_fns(metrics) -> dict:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(f"multiworker training logs the metrics {', '.join(METRICS)}, not {unknown}")
    return {m: _per_example(METRICS[m]) for m in metrics}


def _replica_slices(ds, ctx):
    """Each global batch -> this worker's replicas' slices of it, each with the global batch size."""
    import tensorflow as tf

    n = ctx.num_replicas_in_sync
    local = n // ctx.num_input_pipelines
    first = ctx.input_pipeline_id * local

    def split(x, y):
        b = tf.shape(y)[0]
        parts = []
        for r in range(first, first + local):
            lo, hi = b * r // n, b * (r + 1) // n
            cut = lambda a: a[lo:hi]  # noqa: E731
            parts.append(tf.data.Dataset.from_tensors(
                (tf.nest.map_structure(cut, x), cut(y), tf.cast(b, tf.float32))))
        out = parts[0]
        for part in parts[1:]:
            out = out.concatenate(part)
        return out

    return ds.flat_map(split)


class _Checkpoints:
    """One checkpoint per finished epoch (the previous kept too): the chief's in the run directory, the
    others' in a temporary folder. Every worker restores the chief's latest readable one."""

    def __init__(self, strategy, directory, model, optimizer):
        import tensorflow as tf

        logging.getLogger("absl").setLevel(logging.WARNING)  # one "Sharding callback duration" line per save
        self.strategy, self.directory, self.chief = strategy, directory, is_chief(strategy)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
        self.model, self.optimizer = model, optimizer
        self.write_dir = str(directory) if self.chief else tempfile.mkdtemp(prefix="irdi_ckpt_")
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.write_dir, max_to_keep=2)

    def restore(self, stage: str) -> int:
        """Load the chief's latest readable checkpoint; the epochs it completed (0: none)."""
        import tensorflow as tf

        state = tf.train.get_checkpoint_state(str(self.directory)) if self.directory.exists() else None
        paths = list(state.all_model_checkpoint_paths) if state is not None else []
        found = sorted(((int(p.rsplit("-", 1)[1]), p) for p in paths), reverse=True)
        if not found:
            return 0
        initial = [v.numpy() for v in self.model.variables + self.optimizer.variables]
        for epochs, path in found:
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
                print(f"[{stage}] resuming from epoch {epochs + 1} (checkpoint in {self.directory})", flush=True)
                return epochs
            except Exception as exc:  # noqa: BLE001 -- a cut file raises OpError, IndexError, ValueError ...
                log.warning("checkpoint %s is unreadable (%s)", path, str(exc).splitlines()[0][:200])
        log.warning("no readable checkpoint in %s; restarting this stage from epoch 0", self.directory)
        for v, value in zip(self.model.variables + self.optimizer.variables, initial):
            v.assign(value)
        return 0

    def save(self, epochs_done: int) -> None:
        # A new checkpoint is written before the oldest of the two kept is removed: it must fit beside them.
        ensure_space(self.write_dir, state_bytes(self.model) + CHECKPOINT_SLACK, writing=self.write_dir)
        self.manager.save(checkpoint_number=epochs_done)

    def close(self, remove_chief_dir: bool) -> None:
        if not self.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)
        elif remove_chief_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


class _Logs:
    """The chief's per-epoch CSV (columns as keras.callbacks.CSVLogger writes them) and TensorBoard logs
    (train/ and validation/ as keras.callbacks.TensorBoard writes them)."""

    def __init__(self, plan: StagePlan, active: bool):
        self.active, self.csv_path, self.tb = active, plan.csv_path, plan.tensorboard_dir
        self.append = plan.append and self.csv_path.exists()
        self.writers = {}

    def write(self, epoch: int, logs: dict) -> None:
        if not self.active:
            return
        import tensorflow as tf

        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        keys = ["epoch"] + sorted(logs)
        with open(self.csv_path, "a" if self.append else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            if not self.append:
                writer.writeheader()
            writer.writerow({"epoch": epoch, **logs})
        self.append = True
        for folder, prefix in (("train", ""), ("validation", "val_")):
            if folder not in self.writers:
                self.writers[folder] = tf.summary.create_file_writer(str(self.tb / folder))
            with self.writers[folder].as_default():
                for k, v in logs.items():
                    if (k.startswith("val_") if prefix else not k.startswith("val_")):
                        tf.summary.scalar(f"epoch_{k[len(prefix):]}", v, step=epoch)
            self.writers[folder].flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def fit_multiworker(run: RunDir, stage: str, model, train_epochs, val_ds, stage_cfg, loss, metrics=(),
                    extra_callbacks=(), clock=None, seed: int = 0) -> dict:
    """``fitting.fit_stage`` for MultiWorkerMirroredStrategy: same arguments, same result (the last
    epoch's logs), same files (written by the chief), the same protocol (``training/loop.py``)."""
    import tensorflow as tf

    from keras_irdi.data.pipelines import seed_random_layers

    strategy = model.distribute_strategy
    chief = is_chief(strategy)
    plan = StagePlan.start(run, stage, train_epochs, stage_cfg, loop="multiworker")
    steps, backup = plan.steps, plan.backup
    loss_fn, metric_fns = _loss_fn(loss), _metric_fns(metrics)
    with _peer_errors():
        with strategy.scope():
            optimizer = make_optimizer(stage_cfg, steps)
            model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))  # saved with the model, as fit's
            optimizer.build(model.trainable_variables)
        checkpoints = _Checkpoints(strategy, backup, model, optimizer)
        first = checkpoints.restore(stage)
        # Every worker must resume from the same epoch: the others read the chief's checkpoints.
        seen = strategy.gather(strategy.run(lambda: tf.constant([first], tf.int32)), axis=0).numpy()
    if len(set(seen.tolist())) > 1:
        raise InputError(f"the workers found different checkpoints in {backup} (epochs done: "
                         f"{sorted(set(seen.tolist()))}): the run directory must be one shared folder every "
                         "worker sees")
    logs = _Logs(plan, active=chief)
    finished = plan.resume(first)
    if finished is not None:
        checkpoints.close(remove_chief_dir=True)
        return finished
    n_replicas = strategy.num_replicas_in_sync
    stream = plan.stream
    dist = strategy.distribute_datasets_from_function(lambda ctx: _replica_slices(stream, ctx))

    def replica_step(x, y, global_b):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            data_sum = tf.reduce_sum(loss_fn(y, pred))
            reg = tf.add_n(model.losses) if model.losses else tf.zeros([])
            objective = data_sum / global_b + reg / n_replicas
        grads = tape.gradient(objective, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        n_local = tf.cast(tf.shape(y)[0], tf.float32)
        sums = [data_sum + reg * n_local, n_local] + [tf.reduce_sum(f(y, pred)) for f in metric_fns.values()]
        return tf.stack(sums)

    @tf.function
    def train_step(iterator):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=next(iterator)),
                               axis=None)

    @tf.function
    def val_step(x, y):  # every worker validates on the whole (small) validation set, locally
        pred = model(x, training=False)
        n = tf.cast(tf.shape(y)[0], tf.float32)
        reg = tf.add_n(model.losses) if model.losses else tf.zeros([])
        return tf.stack([tf.reduce_sum(loss_fn(y, pred)) + reg * n, n] +
                        [tf.reduce_sum(f(y, pred)) for f in metric_fns.values()])

    names = ["loss"] + list(metric_fns)
    callbacks = [*([clock] if clock is not None else []), *extra_callbacks]
    for cb in callbacks:
        cb.set_model(model)
    iterator = iter(dist)
    last = {}
    try:
        for epoch in range(first, stage_cfg.epochs):
            seed_random_layers(model, [seed, epoch])
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            sums = 0.0
            with _peer_errors():
                for batch in range(steps):
                    sums = sums + train_step(iterator).numpy()
                    for cb in callbacks:
                        cb.on_train_batch_end(batch)
            val = sum(val_step(x, y).numpy() for x, y in val_ds)
            last = {**{k: float(sums[i + (i > 0)] / sums[1]) for i, k in enumerate(names)},
                    **{f"val_{k}": float(val[i + (i > 0)] / val[1]) for i, k in enumerate(names)}}
            with _peer_errors():
                checkpoints.save(epoch + 1)
            logs.write(epoch, last)
            for cb in callbacks:
                cb.on_epoch_end(epoch, last)
            shown = " - ".join(f"{k}: {v:.4g}" for k, v in last.items())
            print(f"[{stage}] epoch {epoch + 1}/{stage_cfg.epochs}: {shown}", flush=True)
    finally:
        logs.close()
    checkpoints.close(remove_chief_dir=True)
    return last
