"""The degradation operators: PIL-identical JPEG, seeded clipped noise, level validation."""
import io

import numpy as np
import pytest
from PIL import Image

from keras_irdi import degrade, get_degradation


def pil_jpeg(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 32 * 32 * 3).reshape(32, 32, 3)
    return np.stack([np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)
                     for _ in range(6)])


def test_jpeg_batch_mixed_qualities_equals_hand_rolled_pil(images):
    qualities = [1, 10, 37, 75, 99, 100]
    out = degrade(images, "jpeg", qualities)
    assert out.dtype == np.uint8 and out.shape == images.shape
    for img, q, got in zip(images, qualities, out):
        np.testing.assert_array_equal(got, pil_jpeg(img, q))


def test_jpeg_single_image_and_quality_100_is_not_identity(images):
    out = degrade(images[0], "jpeg", 100)
    assert out.shape == images[0].shape
    np.testing.assert_array_equal(out, pil_jpeg(images[0], 100))
    assert np.any(out != images[0])
    # Lower quality distorts more.
    err = [np.abs(degrade(images, "jpeg", q).astype(int) - images).mean() for q in (5, 50, 95)]
    assert err[0] > err[1] > err[2] > 0


def test_gaussian_statistics_on_flat_grey():
    grey = np.full((4, 64, 64, 3), 128, np.uint8)
    noisy = degrade(grey, "gaussian", 20, seed=1)
    diff = noisy.astype(np.float64) - 128
    assert noisy.dtype == np.uint8
    assert abs(diff.mean()) < 0.3 and abs(diff.std() - 20) < 0.3
    np.testing.assert_array_equal(noisy, degrade(grey, "gaussian", 20, seed=1))  # seedable
    assert np.any(noisy != degrade(grey, "gaussian", 20, seed=2))
    np.testing.assert_array_equal(degrade(grey, "gaussian", 0, seed=3), grey)


def test_gaussian_clips_to_uint8_range():
    black_white = np.zeros((2, 16, 16, 3), np.uint8)
    black_white[1] = 255
    out = degrade(black_white, "gaussian", [50, 50], seed=0)
    assert out.dtype == np.uint8
    assert out[0].min() == 0 and out[1].max() == 255  # clipped, not wrapped around
    assert out[0].mean() > 10 and out[1].mean() < 245


@pytest.mark.parametrize("kind, level, message", [
    ("jpeg", 0, "jpeg quality factor must be in 1..100, got 0"),
    ("jpeg", 101, "jpeg quality factor must be in 1..100, got 101"),
    ("jpeg", 50.5, "jpeg quality factor must be an integer in 1..100, got 50.5"),
    ("jpeg", -3, "jpeg quality factor must be in 1..100, got -3"),
    ("gaussian", -1, "gaussian sigma must be in 0..50, got -1"),
    ("gaussian", 51, "gaussian sigma must be in 0..50, got 51"),
    ("gaussian", float("nan"), "gaussian levels must be finite, in [0, 50]")])
def test_bad_levels_name_the_range(images, kind, level, message):
    with pytest.raises(ValueError) as err:
        degrade(images, kind, level)
    assert str(err.value) == message


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown degradation 'motion'.*jpeg, gaussian, blur"):
        degrade(np.zeros((8, 8, 3), np.uint8), "motion", 3)
    with pytest.raises(ValueError, match="uint8"):
        degrade(np.zeros((8, 8, 3), np.float32), "jpeg", 50)
    with pytest.raises(ValueError, match="RGB"):
        degrade(np.zeros((8, 8), np.uint8), "jpeg", 50)
    with pytest.raises(ValueError, match="one per image"):
        degrade(np.zeros((3, 8, 8, 3), np.uint8), "jpeg", [10, 20])


def test_registry_normalisation_and_sampling():
    jpeg, noise = get_degradation("jpeg"), get_degradation("gaussian")
    assert jpeg.normalize(50) == pytest.approx(0.5) and noise.normalize(51) == pytest.approx(0.2)
    assert jpeg.unit == pytest.approx(1.0) and noise.unit * noise.normalize(50) == pytest.approx(1.0)
    q = jpeg.sample(5000, np.random.default_rng(0))
    assert q.min() == 1 and q.max() == 100 and np.all(q == np.round(q))
    assert list(jpeg.sweep_levels())[:2] == [1, 2] and len(jpeg.sweep_levels()) == 100
    assert len(noise.sweep_levels()) == 51


@pytest.mark.parametrize("shape, kind, match", [((0, 0, 3), "jpeg", "at least 1x1"),
                                                ((0, 5, 3), "gaussian", "at least 1x1"),
                                                ((2, 70000, 3), "jpeg", "larger than 65500")])
def test_degrade_rejects_impossible_sizes_with_its_own_error(shape, kind, match):
    with pytest.raises(ValueError, match=match):
        degrade(np.zeros(shape, np.uint8), kind, 10)


def test_blur_is_scikit_image_gaussian_and_damages_with_sigma():
    from skimage.filters import gaussian

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = degrade(images, "blur", [0, 1.5, 4])
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out[0], images[0])  # sigma 0 leaves the image as it is
    ref = gaussian(images[1], sigma=1.5, channel_axis=-1, preserve_range=True, mode="nearest")
    assert np.array_equal(out[1], np.clip(np.round(ref), 0, 255).astype(np.uint8))
    # Stronger blur removes more of the (white-noise) image's detail.
    damage = [np.abs(o.astype(int) - i).mean() for o, i in zip(out, images)]
    assert damage[0] == 0 < damage[1] < damage[2]
    with pytest.raises(ValueError, match="0..6"):
        degrade(images, "blur", 7)


def test_degrade_level_types():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(degrade(image, "jpeg", 50.0), degrade(image, "jpeg", 50))  # integral float
    np.testing.assert_array_equal(degrade(image, "jpeg", np.int16(50)), degrade(image, "jpeg", 50))
    assert degrade(image, "gaussian", 12.5, seed=0).dtype == np.uint8  # sigma is continuous
    for kind, level, match in (("jpeg", "50", "must be numbers"), ("jpeg", True, "must be numbers"),
                               ("jpeg", [], "must be numbers"), ("jpeg", 1e9, "1..100"),
                               ("jpeg", -0.5, "integer"), ("gaussian", np.inf, "finite"),
                               ("gaussian", -np.inf, "finite")):
        with pytest.raises(ValueError, match=match):
            degrade(image, kind, level)
    with pytest.raises(ValueError, match="0..50"):
        degrade(image, "gaussian", -1e-9)
    with pytest.raises(ValueError, match="unknown degradation 'JPEG'; choose one of: jpeg, gaussian"):
        degrade(image, "JPEG", 50)  # names are case-sensitive in the API (the predict CLI lower-cases)
