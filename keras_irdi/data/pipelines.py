"""tf.data pipelines: PIL degradations through ``tf.py_function``, applied per batch.

Per batch, because one py_function call per image costs more than the PIL work itself
(bench/results/pipeline.json measures it). Every batch carries a key (seed, epoch, batch index), and every
random draw made for it -- shuffle order, augmentation, degradation level, noise -- is a function of that
key alone. So a run is reproducible whatever the parallelism, and an epoch replays exactly when a killed
stage resumes from its checkpoint (docs/RELIABILITY.md, "exact resume").
Every pipeline yields float32 images in [0, 1], the networks' input convention.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError
from keras_irdi.preset_sections import AUGMENTATIONS

AUTOTUNE = tf.data.AUTOTUNE
# The degradation map runs one batch at a time, on its own tf.data thread, overlapped with training by
# prefetch. Parallel calls only fight over the GIL: the PIL round trip of a 32x32 image is mostly Python
# work (Image.fromarray, BytesIO, save, decode); on 2 cores AUTOTUNE parallel calls ran at 0.89 of one
# call's throughput (bench/results/pipeline.json, ratio parallel_over_pipeline).
DEGRADE_CALLS = 1


def _finish(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Prefetch, and run the pipeline's functions on one private thread.

    With TensorFlow's shared pool, 2 to 3 of 5 passes over the JPEG pipeline ran at ~0.65 of the others'
    speed (a bimodal "stall", always the same length); on a private one-thread pool none did in 5 passes and
    the pipeline kept pace with a plain PIL loop (docs/DECISIONS.md, bench/results/pipeline.json).
    """
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    return ds.prefetch(AUTOTUNE).with_options(options)


FLIP_SHIFTS = {"flip_shift": 0.125, "flip_small_shift": 0.0625, "flip": 0.0}  # largest shift, fraction of the size


def cifar_augmenter(seed: int | None = None, kind: str = "paper") -> keras.Sequential:
    """CIFAR augmentation, by preset choice.

    ``paper``: zoom, shear, horizontal flip, rotation, vertical/horizontal shift, with the magnitudes of
    the lab's Keras template (ImageDataGenerator-style, 'nearest' fill). ``flip_shift``: horizontal flip
    and shifts of up to 4 pixels with reflected borders, the common CIFAR recipe, which trained the
    half-width classifier faster on the CPU budget (docs/DECISIONS.md). ``flip_small_shift`` (shifts of
    up to 2 pixels) and ``flip`` (none): for the fine-tune of a base trained with shifts (``FinetuneConfig``).
    """
    if kind == "paper":
        fill = dict(fill_mode="nearest")
        layers = [
            keras.layers.RandomZoom(0.1, seed=seed, **fill),
            keras.layers.RandomShear(x_factor=0.1, y_factor=0.1, seed=seed, **fill),
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(10 / 360, seed=seed, **fill),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed, **fill),
        ]
    elif kind in FLIP_SHIFTS:
        shift = FLIP_SHIFTS[kind]
        layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
        if shift:
            layers.append(keras.layers.RandomTranslation(shift, shift, seed=seed, fill_mode="reflect"))
    else:
        raise InputError(f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}")
    return keras.Sequential(layers, name=f"cifar_augmentation_{kind}")


def seed_random_layers(model, key) -> list:
    """Set the state of every random generator in ``model`` from ``key`` (a seed, or (seed, epoch[, batch])).

    Keras random layers (augmentation, dropout) draw from a generator whose state advances with each call
    and is not saved in checkpoints. Setting it from the key makes their draws a function of the key: the
    same after a resume as in an uninterrupted run. Returns the assign ops (for control dependencies).
    """
    key = tf.cast(tf.reshape(key, [-1]), tf.int64)
    base = tf.reduce_sum(key * tf.constant([1_000_003, 10_007, 1][-int(key.shape[0]):], tf.int64))
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    return [v.assign(tf.stack([base, tf.constant(i, tf.int64)])) for i, v in enumerate(states)]


def _degrade_batch(images, key, kind: str):
    """numpy side of the py_function: random level per image, then the registry's operator.

    ``key``: an int or the batch key (seed, epoch, batch); numpy's SeedSequence hashes it."""
    deg = get_degradation(kind)
    key = key.numpy() if hasattr(key, "numpy") else key
    rng = np.random.default_rng(np.asarray(key, np.int64).ravel().tolist())
    images = images.numpy() if hasattr(images, "numpy") else images
    levels = deg.sample(len(images), rng)
    return deg.apply(images, levels, rng), levels.astype(np.float32)


def degrade_in_pipeline(images, key, kind: str):
    """uint8 batch (B,H,W,3) -> (degraded uint8 batch, levels (B,)) inside a tf.data map.

    Shapes are restored after the py_function so Keras sees static channel/size information.
    """
    degraded, levels = tf.py_function(lambda x, k: _degrade_batch(x, k, kind), [images, key],
                                      [tf.uint8, tf.float32])
    degraded.set_shape(images.shape)
    levels.set_shape(images.shape[:1])
    return degraded, levels


def _to_unit(images):
    return tf.cast(images, tf.float32) / 255.0


def keyed_batches(x, y, batch_size: int, seed: int, shuffle: bool, drop_remainder: bool,
                  epochs: tuple = (0, 1), steps: int | None = None) -> tf.data.Dataset:
    """(batch, key) for epochs ``epochs[0]`` up to ``epochs[1]``; key = (seed, epoch, batch index).

    Each epoch is built from its own key: its shuffle order is seeded by (seed, epoch), so epoch e is the
    same stream whether the run got there directly or resumed at e. ``steps``: batches per epoch, drawn
    from a repeated shuffle (the patch nets); None is one pass over ``x`` (the classifiers). ``x`` may be
    a tuple of arrays (the weight net's inputs).
    """
    arrays = tf.nest.map_structure(tf.convert_to_tensor, (x, y) if y is not None else x)
    n = len(y) if y is not None else len(x)
    seed64 = tf.constant(seed, tf.int64)
    # Stateless shuffles: tf.data's own shuffle cannot take a per-epoch seed once a global seed is set.
    passes = 1 if steps is None else -(-steps * batch_size // n)

    def one_epoch(epoch):
        order = tf.tile(tf.range(n, dtype=tf.int64), [passes])
        if shuffle:
            order = tf.concat([tf.random.experimental.stateless_shuffle(
                tf.range(n, dtype=tf.int64), seed=tf.stack([seed64 * 1_000_003 + epoch, tf.constant(p, tf.int64)]))
                for p in range(passes)], axis=0)
        ds = tf.data.Dataset.from_tensor_slices(order)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder or steps is not None)
        if steps is not None:
            ds = ds.take(steps)
        ds = ds.map(lambda idx: tf.nest.map_structure(lambda a: tf.gather(a, idx), arrays))
        keys = tf.data.Dataset.range(2**31).map(lambda b: tf.stack([seed64, epoch, b]))
        return tf.data.Dataset.zip((ds, keys))

    per_epoch = steps or (n // batch_size if drop_remainder else -(-n // batch_size))
    start, stop = epochs
    ds = tf.data.Dataset.range(start, stop).flat_map(one_epoch)
    return ds.apply(tf.data.experimental.assert_cardinality((stop - start) * per_epoch))


def batches_per_epoch(ds: tf.data.Dataset, epochs: tuple) -> int:
    """Steps per epoch of a dataset built for ``epochs`` by the functions below."""
    return int(ds.cardinality()) // (epochs[1] - epochs[0])


def patch_pairs(patches: np.ndarray, kind: str, batch_size: int, target: str, seed: int = 0,
                epochs: tuple = (0, 1), steps: int | None = None, shuffle: bool = True) -> tf.data.Dataset:
    """Clean uint8 patches -> (degraded, target): target "clean" for the restoration net,
    "level" (normalised, shape (B,1)) for the level estimator. A fresh random level every time.

    ``epochs``/``steps``: the training stream's epochs and batches per epoch (see ``keyed_batches``); the
    default is one pass, for validation."""
    if target not in ("clean", "level"):
        raise ValueError(f"target must be 'clean' or 'level', got {target!r}")
    deg = get_degradation(kind)

    def make(clean, s):
        degraded, levels = degrade_in_pipeline(clean, s, kind)
        if target == "clean":
            return _to_unit(degraded), _to_unit(clean)
        return _to_unit(degraded), tf.reshape(levels / deg.scale, (-1, 1))

    ds = keyed_batches(patches, None, batch_size, seed, shuffle=shuffle, drop_remainder=False, epochs=epochs,
                  steps=steps)
    return _finish(ds.map(make, num_parallel_calls=DEGRADE_CALLS))


def classification_batches(x: np.ndarray, y: np.ndarray, batch_size: int, kind: str | None = None,
                           augment: bool | str = True, seed: int = 0, shuffle: bool = True,
                           return_levels: bool = False, epochs: tuple = (0, 1)) -> tf.data.Dataset:
    """CIFAR batches for the classifiers and the weight net: (image in [0,1], label).

    Augmentation runs *before* the degradation, as in the paper (section 4.1); ``kind=None`` gives
    clean images. ``x`` may also be float32 in [0,1] (precomputed restored images): then only the
    geometric augmentation is applied and there is no degradation. ``augment``: False, True (the
    paper's) or an augmentation name of :func:`cifar_augmenter`. ``epochs``: the training stream's
    epochs (see ``keyed_batches``); the default is one pass.
    """
    if augment is True:
        augment = "paper"
    augmenter = cifar_augmenter(seed, augment) if augment and augment != "none" else None
    is_float = x.dtype != np.uint8
    if is_float and kind is not None:
        raise InputError("degradation needs uint8 images; restored float images are already degraded")

    def augment(batch, key):
        images, labels = batch
        with tf.control_dependencies(seed_random_layers(augmenter, key)):
            images = augmenter(tf.cast(images, tf.float32), training=True)
        if not is_float:
            images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
        return (images, labels), key

    def make(batch, s):
        images, labels = batch
        levels = tf.zeros(tf.shape(labels)[:1], tf.float32)
        if kind is not None:
            images, levels = degrade_in_pipeline(images, s, kind)
        images = tf.cast(images, tf.float32) if is_float else _to_unit(images)
        return ((images, labels, levels) if return_levels else (images, labels))

    ds = keyed_batches(x, y, batch_size, seed, shuffle=shuffle, drop_remainder=False, epochs=epochs)
    if augmenter is not None:
        # Sequential on purpose: the Keras layers draw from their generators' state, which each batch
        # sets from its key; parallel calls would race on it. One core augments ~6,600 CIFAR images/s,
        # far above what training consumes.
        ds = ds.map(augment).prefetch(2)  # a buffer, so augmentation and degradation overlap
    return _finish(ds.map(make, num_parallel_calls=DEGRADE_CALLS))


def degrade_array(x: np.ndarray, kind: str, seed: int, augment: bool | str = False,
                  batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """One degraded copy of an array (optionally augmented first), through the same pipeline code.

    Used to precompute the restored training set and the weight net's inputs.
    """
    dummy = np.zeros(len(x), np.int64)
    ds = classification_batches(x, dummy, batch_size, kind=kind, augment=augment, seed=seed,
                                shuffle=False, return_levels=True)
    images, levels = [], []
    for batch, _, lv in ds:
        images.append(np.round(batch.numpy() * 255).astype(np.uint8))
        levels.append(lv.numpy())
    return np.concatenate(images), np.concatenate(levels)
