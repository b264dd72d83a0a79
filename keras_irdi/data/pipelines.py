"""tf.data pipelines: PIL degradations through ``tf.py_function``, applied per batch.

Per batch, because one py_function call per image costs more than the PIL work itself
(bench/results/pipeline.json measures it). Levels are drawn inside the py_function from a per-batch seed
that comes from a seeded ``Dataset.random`` stream, so a run is reproducible whatever the parallelism.
Every pipeline yields float32 images in [0, 1], the networks' input convention.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from keras_irdi.degradations import get_degradation
from keras_irdi.errors import InputError

AUTOTUNE = tf.data.AUTOTUNE
# The degradation map runs one batch at a time, on its own tf.data thread, overlapped with training by
# prefetch. Parallel calls only fight over the GIL: the PIL round trip of a 32x32 image is mostly Python
# work (Image.fromarray, BytesIO, save, decode); on 2 cores AUTOTUNE parallel calls ran at 0.75 of one
# call's throughput (bench/results/pipeline.json, ratio parallel_over_pipeline).
DEGRADE_CALLS = 1


def cifar_augmenter(seed: int | None = None, kind: str = "paper") -> keras.Sequential:
    """CIFAR augmentation, by preset choice.

    ``paper``: zoom, shear, horizontal flip, rotation, vertical/horizontal shift, with the magnitudes of
    the lab's Keras template (ImageDataGenerator-style, 'nearest' fill). ``flip_shift``: horizontal flip
    and shifts of up to 4 pixels with reflected borders, the common CIFAR recipe, which trained the
    half-width classifier faster on the CPU budget (docs/DECISIONS.md).
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
    elif kind == "flip_shift":
        layers = [keras.layers.RandomFlip("horizontal", seed=seed),
                  keras.layers.RandomTranslation(0.125, 0.125, seed=seed, fill_mode="reflect")]
    else:
        raise InputError(f"unknown augmentation {kind!r}; choose 'paper' or 'flip_shift'")
    return keras.Sequential(layers, name=f"cifar_augmentation_{kind}")


def _degrade_batch(images, seed, kind: str):
    """numpy side of the py_function: random level per image, then the registry's operator."""
    deg = get_degradation(kind)
    rng = np.random.default_rng(int(seed.numpy()) if hasattr(seed, "numpy") else int(seed))
    images = images.numpy() if hasattr(images, "numpy") else images
    levels = deg.sample(len(images), rng)
    return deg.apply(images, levels, rng), levels.astype(np.float32)


def degrade_in_pipeline(images, seed, kind: str):
    """uint8 batch (B,H,W,3) -> (degraded uint8 batch, levels (B,)) inside a tf.data map.

    Shapes are restored after the py_function so Keras sees static channel/size information.
    """
    degraded, levels = tf.py_function(lambda x, s: _degrade_batch(x, s, kind), [images, seed],
                                      [tf.uint8, tf.float32])
    degraded.set_shape(images.shape)
    levels.set_shape(images.shape[:1])
    return degraded, levels


def _to_unit(images):
    return tf.cast(images, tf.float32) / 255.0


def _batched(x, y, batch_size, seed, shuffle, repeat, drop_remainder):
    ds = tf.data.Dataset.from_tensor_slices((x, y) if y is not None else x)
    if shuffle:
        ds = ds.shuffle(min(len(x), 50000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # One independent seed per batch, deterministic for a given seed.
    seeds = tf.data.Dataset.random(seed=seed)
    return tf.data.Dataset.zip((ds, seeds))


def patch_pairs(patches: np.ndarray, kind: str, batch_size: int, target: str, seed: int = 0,
                repeat: bool = True) -> tf.data.Dataset:
    """Clean uint8 patches -> (degraded, target): target "clean" for the restoration net,
    "level" (normalised, shape (B,1)) for the level estimator. A fresh random level every time."""
    if target not in ("clean", "level"):
        raise ValueError(f"target must be 'clean' or 'level', got {target!r}")
    deg = get_degradation(kind)

    def make(clean, s):
        degraded, levels = degrade_in_pipeline(clean, s, kind)
        if target == "clean":
            return _to_unit(degraded), _to_unit(clean)
        return _to_unit(degraded), tf.reshape(levels / deg.scale, (-1, 1))

    ds = _batched(patches, None, batch_size, seed, shuffle=True, repeat=repeat, drop_remainder=repeat)
    return ds.map(make, num_parallel_calls=DEGRADE_CALLS).prefetch(AUTOTUNE)


def classification_batches(x: np.ndarray, y: np.ndarray, batch_size: int, kind: str | None = None,
                           augment: bool | str = True, seed: int = 0, shuffle: bool = True, repeat: bool = False,
                           return_levels: bool = False) -> tf.data.Dataset:
    """CIFAR batches for the classifiers and the weight net: (image in [0,1], label).

    Augmentation runs *before* the degradation, as in the paper (section 4.1); ``kind=None`` gives
    clean images. ``x`` may also be float32 in [0,1] (precomputed restored images): then only the
    geometric augmentation is applied and there is no degradation. ``augment``: False, True (the
    paper's) or an augmentation name of :func:`cifar_augmenter`.
    """
    if augment is True:
        augment = "paper"
    augmenter = cifar_augmenter(seed, augment) if augment and augment != "none" else None
    is_float = x.dtype != np.uint8
    if is_float and kind is not None:
        raise InputError("degradation needs uint8 images; restored float images are already degraded")

    def augment(batch, s):
        images, labels = batch
        images = augmenter(tf.cast(images, tf.float32), training=True)
        if not is_float:
            images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
        return (images, labels), s

    def make(batch, s):
        images, labels = batch
        levels = tf.zeros(tf.shape(labels)[:1], tf.float32)
        if kind is not None:
            images, levels = degrade_in_pipeline(images, s, kind)
        images = tf.cast(images, tf.float32) if is_float else _to_unit(images)
        return ((images, labels, levels) if return_levels else (images, labels))

    ds = _batched(x, y, batch_size, seed, shuffle=shuffle, repeat=repeat, drop_remainder=False)
    if augmenter is not None:
        # Sequential on purpose: the Keras layers draw from a stateful generator, and parallel calls
        # would hand its draws to batches in a racy order (measured: same seed, different images).
        # One core augments ~6,600 CIFAR images/s, far above what training consumes.
        ds = ds.map(augment).prefetch(2)  # a buffer, so augmentation and degradation overlap
    return ds.map(make, num_parallel_calls=DEGRADE_CALLS).prefetch(AUTOTUNE)


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
