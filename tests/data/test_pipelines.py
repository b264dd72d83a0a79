"""tf.data pipelines: shapes, dtypes, ranges, PIL-identical degradation, determinism."""
import keras
import numpy as np
import pytest

from keras_irdi.data.cifar import load_cifar
from keras_irdi.data.pipelines import classification_batches, degrade_array, patch_pairs
from keras_irdi.degradations import degrade


@pytest.fixture(scope="module")
def cifar(cifar_dir):
    d = load_cifar("cifar10", cifar_dir=str(cifar_dir), limit_train=96, limit_test=1)
    return d["x_train"], d["y_train"]


def test_classification_batches_degraded_are_pil_jpeg_of_the_input(cifar):
    x, y = cifar
    ds = classification_batches(x, y, 32, kind="jpeg", augment=False, shuffle=False, return_levels=True, seed=5)
    seen = 0
    for images, labels, levels in ds:
        images, levels = images.numpy(), levels.numpy()
        assert images.dtype == np.float32 and images.shape == (32, 32, 32, 3)
        assert 0.0 <= images.min() and images.max() <= 1.0
        assert np.all((levels >= 1) & (levels <= 100) & (levels == np.round(levels)))
        expected = degrade(x[seen:seen + 32], "jpeg", levels.astype(int))
        np.testing.assert_array_equal(np.round(images * 255).astype(np.uint8), expected)
        np.testing.assert_array_equal(labels.numpy(), y[seen:seen + 32])
        seen += 32
    assert seen == len(x)


def test_levels_are_uniform_per_image_and_seeded(cifar):
    x, y = cifar
    big = np.repeat(x, 20, axis=0)[:1920]
    _, levels = degrade_array(big, "jpeg", seed=1)
    assert len(np.unique(levels)) > 80  # one random level per image, over the whole range
    assert abs(levels.mean() - 50.5) < 3
    _, again = degrade_array(big, "jpeg", seed=1)
    _, other = degrade_array(big, "jpeg", seed=2)
    np.testing.assert_array_equal(levels, again)
    assert np.any(levels != other)


def test_augmentation_changes_images_and_is_seeded(cifar):
    x, y = cifar
    plain = next(iter(classification_batches(x, y, 32, augment=False, shuffle=False)))[0].numpy()
    runs = []
    for _ in range(2):  # what every training stage does first (runs.setup_determinism)
        keras.utils.set_random_seed(3)
        runs.append(np.concatenate([b.numpy() for b, _ in classification_batches(x, y, 32, augment=True, shuffle=False,
                                                                                kind="jpeg", seed=3)]))
    a1 = runs[0][:32]
    np.testing.assert_array_equal(runs[0], runs[1])  # every batch, with JPEG
    np.testing.assert_array_equal(plain, x[:32] / np.float32(255))  # clean, unaugmented: exact
    assert np.abs(a1 - plain).mean() > 0.01
    keras.utils.set_random_seed(3)
    other = next(iter(classification_batches(x, y, 32, augment=True, shuffle=False, kind="jpeg", seed=4)))[0].numpy()
    assert np.abs(other - a1).mean() > 0.01  # the pipeline's seed decides the draws, not only the global one


def test_restored_float_images_pass_through(cifar):
    x, y = cifar
    restored = (x / 255.0).astype(np.float32)
    images, _ = next(iter(classification_batches(restored, y, 16, augment=False, shuffle=False)))
    np.testing.assert_allclose(images.numpy(), restored[:16])
    with pytest.raises(ValueError, match="uint8"):
        classification_batches(restored, y, 16, kind="jpeg")


@pytest.mark.parametrize("kind", ["jpeg", "gaussian"])
def test_patch_pairs(cifar, kind):
    x, _ = cifar
    degraded, clean = next(iter(patch_pairs(x, kind, 8, target="clean", seed=0)))
    assert degraded.shape == clean.shape == (8, 32, 32, 3)
    assert degraded.dtype == clean.dtype == np.float32
    assert float(np.abs(degraded - clean).mean()) > 0
    degraded, level = next(iter(patch_pairs(x, kind, 8, target="level", seed=0)))
    assert level.shape == (8, 1) and level.dtype == np.float32
    hi = 1.0 if kind == "jpeg" else 50 / 255
    assert np.all((level.numpy() >= 0) & (level.numpy() <= hi + 1e-6))
    with pytest.raises(ValueError, match="target"):
        patch_pairs(x, kind, 8, target="label")


def test_training_stream_epoch_is_a_function_of_seed_and_epoch(cifar):
    """A resumed stage builds its stream from the epoch it resumes at: that epoch must be the same batches
    (order, augmentation, JPEG levels) as in the uninterrupted stream, and differ from the other epochs."""
    x, y = cifar
    x, y = x[:96], y[:96]

    def epochs(first, stop, **kw):
        ds = classification_batches(x, y, 32, kind="jpeg", augment="flip_shift", seed=3, return_levels=True,
                                    epochs=(first, stop), **kw)
        return [[t.numpy() for t in batch] for batch in ds]

    whole = epochs(0, 3)
    assert len(whole) == 9
    resumed = epochs(2, 3)
    for got, want in zip(resumed, whole[6:], strict=True):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    first, second = np.concatenate([b[0] for b in whole[:3]]), np.concatenate([b[0] for b in whole[3:6]])
    assert np.abs(first - second).mean() > 0.01  # a new order, new shifts and new levels every epoch
    assert sorted(np.concatenate([b[1] for b in whole[3:6]])) == sorted(y)  # each epoch is one pass


def test_patch_stream_epoch_is_a_function_of_seed_and_epoch(cifar):
    x, _ = cifar

    def epochs(first, stop):
        return [d.numpy() for d, _ in patch_pairs(x[:40], "gaussian", 8, "clean", seed=1, epochs=(first, stop),
                                                   steps=7)]

    whole, resumed = epochs(0, 2), epochs(1, 2)
    assert len(whole) == 14 and len(resumed) == 7
    for got, want in zip(resumed, whole[7:]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(whole[0], whole[7])


def test_flip_augmentation_mirrors_or_keeps_each_image_and_never_shifts(cifar):
    """The fine-tune's "flip": every image comes out as itself or its left-right mirror, exactly; both happen."""
    x, y = cifar
    x, y = x[:64], y[:64]
    images, labels = next(iter(classification_batches(x, y, 64, augment="flip", seed=1, shuffle=False)))
    images, labels = images.numpy(), labels.numpy()
    np.testing.assert_array_equal(labels, y)
    want = x.astype(np.float32) / 255.0
    kept = [np.array_equal(a, b) for a, b in zip(images, want)]
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(images, want)]
    assert all(k or m for k, m in zip(kept, mirrored))
    assert 0 < sum(mirrored) < len(x) and 0 < sum(kept)


def test_small_shift_augmentation_moves_images_by_at_most_two_pixels():
    """The Cla(org) fine-tune's "flip_small_shift": shifts happen, and none exceeds 2 pixels (the base's: 4)."""
    x = np.zeros((64, 32, 32, 3), np.uint8)
    x[:, 15:17, 15:17] = 255  # a mirror-symmetric dot: a flip leaves it, a shift moves its centre
    images, _ = next(iter(classification_batches(x, np.zeros(64, np.int64), 64, augment="flip_small_shift",
                                                 seed=1, shuffle=False)))
    mass = images.numpy().sum(axis=-1)
    rows, cols = np.arange(32)[None, :, None], np.arange(32)[None, None, :]
    shift = np.stack([(mass * rows).sum((1, 2)), (mass * cols).sum((1, 2))], -1) / mass.sum((1, 2))[:, None] - 15.5
    assert np.abs(shift).max() <= 2.0 + 1e-3 and np.abs(shift).max() > 1.0
