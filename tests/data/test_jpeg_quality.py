"""keras_irdi.data.jpeg_quality: a file's JPEG quality from its quantisation tables (IJG scaling rule)."""
import io

import numpy as np
import pytest
from PIL import Image

from keras_irdi.data.jpeg_quality import (CHROMINANCE, LUMINANCE, file_jpeg_quality, ijg_table, quality_from_pixels,
                                       quality_from_tables)
from odd_images import screenshot

IMAGE = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def jpeg(tmp_path, name="x.jpg", image=IMAGE, **options):
    path = tmp_path / name
    Image.fromarray(image).save(path, "JPEG", **options)
    return path


def test_every_pil_quality_reads_back_exactly():
    for quality in range(1, 101):
        buf = io.BytesIO()
        Image.fromarray(IMAGE).save(buf, "JPEG", quality=quality)
        with Image.open(buf) as image:
            read = quality_from_tables(image.quantization)
        assert (read.quality, read.exact) == (quality, True)


def test_ijg_rule():
    assert list(ijg_table(LUMINANCE, 50)) == list(LUMINANCE)
    assert set(ijg_table(LUMINANCE, 100)) == {1}
    assert ijg_table(LUMINANCE, 10)[0] == 80 and ijg_table(LUMINANCE, 1).max() == 255


def test_files(tmp_path):
    assert file_jpeg_quality(jpeg(tmp_path, quality=37)).quality == 37
    gray = tmp_path / "gray.jpg"
    Image.fromarray(IMAGE[..., 0], "L").save(gray, quality=80)  # one table only
    assert file_jpeg_quality(gray).quality == 80
    png = tmp_path / "x.png"
    Image.fromarray(IMAGE).save(png)
    assert file_jpeg_quality(png) is None
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    assert file_jpeg_quality(tmp_path / "bad.jpg") is None
    assert file_jpeg_quality(tmp_path / "missing.jpg") is None


def test_tables_that_are_not_ijg(tmp_path):
    own = [list(np.clip(ijg_table(base, 75) + 1, 1, 255)) for base in (LUMINANCE, CHROMINANCE)]  # a camera
    read = file_jpeg_quality(jpeg(tmp_path, qtables=own))
    assert not read.exact and 70 <= read.quality <= 75


@pytest.mark.parametrize("tables", [{}, None, {1: [1] * 64}, {0: [1] * 10}])
def test_no_usable_table(tables):
    assert quality_from_tables(tables) is None


# --- the quality of decoded pixels -------------------------------------------------------------------------

def _decoded(image, quality):
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def cifar_images(cifar_dir):
    return np.load(cifar_dir)["x_test"][:60]


@pytest.mark.parametrize("quality", [5, 10, 50, 90, 95, 98])
def test_pixels_of_32x32_jpegs_give_their_quality(cifar_images, quality):
    # 16 luminance blocks are enough evidence for nearly every real CIFAR image, at every quality up to 98.
    found = [quality_from_pixels(_decoded(image, quality)) for image in cifar_images]
    assert np.mean([f == quality for f in found]) >= 0.9, found


def test_steps_of_one_read_as_never_compressed(cifar_images):
    found = [quality_from_pixels(_decoded(image, 100)) for image in cifar_images]
    assert np.mean([f is None for f in found]) >= 0.9, found


def test_pixels_of_a_photo_give_its_quality(clean_dir):
    photo = np.asarray(Image.open(sorted(clean_dir.iterdir())[0]).convert("RGB"))
    assert [quality_from_pixels(_decoded(photo, q)) for q in (3, 37, 75, 93, 98)] == [3, 37, 75, 93, 98]


def test_pixels_without_a_lattice_give_none(cifar_images, clean_dir):
    # Never compressed (the CIFAR originals and a lossless photo), or cropped off the 8x8 grid after compression.
    assert np.mean([quality_from_pixels(image) is None for image in cifar_images]) >= 0.8
    photo = np.asarray(Image.open(sorted(clean_dir.iterdir())[0]).convert("RGB"))
    assert quality_from_pixels(photo) is None
    assert quality_from_pixels(_decoded(photo, 50)[3:, 5:]) is None


def test_pixels_need_an_rgb_uint8_image():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        quality_from_pixels(IMAGE.astype(np.float32))
    assert quality_from_pixels(IMAGE[:7, :7]) is None  # no whole 8x8 block


# --- no lattice evidence: flat and synthetic images --------------------------------------------------------

@pytest.mark.parametrize("colour", [(40, 120, 200), (128, 128, 128), (10, 200, 30), (250, 250, 250)])
def test_a_solid_colour_shows_no_lattice(colour):
    # Flat blocks are their DC alone (a multiple of 8 for a grey): they used to read as QF 13-26.
    solid = np.full((240, 320, 3), colour, np.uint8)
    assert quality_from_pixels(solid) is None
    assert quality_from_pixels(_decoded(solid, 95)) is None  # not "a coarser JPEG under QF 95 tables"
    assert quality_from_pixels(_decoded(solid, 30)) is None


def test_a_synthetic_screenshot_shows_no_lattice():
    image = screenshot()
    assert quality_from_pixels(image) is None  # never compressed (it used to read as QF 25-51)
    assert quality_from_pixels(_decoded(image, 95)) in (None, 95)  # never a coarser, earlier JPEG
    assert quality_from_pixels(_decoded(image, 75)) == 75  # compressed: its lattice shows


def test_repeated_or_too_few_textured_blocks_give_none(cifar_images):
    # One textured JPEG block repeated over a flat image is one block of evidence, not hundreds.
    block = _decoded(np.ascontiguousarray(cifar_images[0]), 20)[8:16, 8:16]
    tiled = np.tile(block, (30, 40, 1))
    assert quality_from_pixels(tiled) is None
    lone = np.full((240, 320, 3), block[0, 0], np.uint8)
    lone[80:88, 160:168] = block
    assert quality_from_pixels(lone) is None


def test_a_large_image_is_read_block_by_block(clean_dir):
    # A 12 MP decoded JPEG: the reader's own allocations stay far below the image as float32 (144 MB).
    import tracemalloc

    photo = Image.open(sorted(clean_dir.iterdir())[0]).convert("RGB").resize((4000, 3000))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=60)
    image = np.asarray(Image.open(buf).convert("RGB"))
    tracemalloc.start()
    try:
        assert quality_from_pixels(image) == 60
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6, peak
