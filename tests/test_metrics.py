"""Metrics on small hand-computed examples."""
import numpy as np
import pytest

from keras_irdi.metrics import accuracy, cpsnr, interval_mean_accuracy, mean_cpsnr


def test_accuracy():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert accuracy(probs, [0, 1, 1, 1]) == 0.75


def test_interval_mean_accuracy_by_hand():
    levels = [1, 2, 3, 4, 5]
    accs = [0.1, 0.2, 0.4, 0.8, 1.0]
    assert interval_mean_accuracy(levels, accs, 1, 5) == pytest.approx(2.5 / 5)
    assert interval_mean_accuracy(levels, accs, 2, 4) == pytest.approx(1.4 / 3)
    # Extra non-integer levels (CIFAR-10-C sigmas) do not enter an interval.
    assert interval_mean_accuracy(levels + [2.5], accs + [99.0], 2, 3) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="missing \\[6\\]"):
        interval_mean_accuracy(levels, accs, 1, 6)


def test_cpsnr_by_hand():
    ref = np.zeros((4, 4, 3), np.uint8)
    test = ref.copy()
    test[0, 0, 0] = 10  # MSE over 48 values = 100/48
    expected = 10 * np.log10(255 ** 2 / (100 / 48))
    assert cpsnr(ref, test) == pytest.approx(expected)
    assert mean_cpsnr(np.stack([ref, ref]), np.stack([test, test])) == pytest.approx(expected)
    with pytest.raises(ValueError, match="equal shapes"):
        cpsnr(ref, test[:2])


def test_cpsnr_of_identical_images_is_inf_without_a_warning():
    """Sigma 0 of a noise sweep leaves the images as they are; the run's log should not say 'divide by zero'."""
    import warnings

    img = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cpsnr(img, img) == float("inf") and mean_cpsnr(img, img) == float("inf")
