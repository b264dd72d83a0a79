"""keras_irdi.data.images: every odd and every unreadable image file, folders of clean photos, patches.

load_image either returns uint8 RGB or raises a ValueError naming the file, whatever the file holds;
load_image_folder skips (with a warning) what load_image refuses. The odd files are in odd_images.py.
"""
import io
import logging
import resource
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from keras_irdi.data import images
from keras_irdi.data.images import default_clean_images, extract_patches, load_image, load_image_folder
from odd_images import CONVERTED, UNREADABLE, save_image


# -- single files: load_image ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_load_image_converts_odd_files_to_uint8_rgb(odd_files, name):
    shape, check = CONVERTED[name]
    image = load_image(odd_files[name])
    assert image.dtype == np.uint8 and image.shape == shape
    assert check(image), image[:2, :2].tolist()


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_conversion_by_bands_of_rows_is_the_same(odd_files, name, monkeypatch):
    # A large image is converted a band of rows at a time (bounded memory); one row per band here.
    whole = load_image(odd_files[name])
    monkeypatch.setattr(images, "_BAND", 1)
    assert (load_image(odd_files[name]) == whole).all()


@pytest.mark.parametrize("name", UNREADABLE)
def test_load_image_unreadable_is_a_value_error_naming_the_file(odd_files, name):
    with pytest.raises(ValueError) as info:
        load_image(odd_files[name])
    message = str(info.value)
    assert message.startswith(f"{odd_files[name]}: not a readable image"), message
    assert "\n" not in message


def test_load_image_missing_file_names_it(odd_files):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(odd_files["missing"])


def test_decompression_bomb_refused_from_the_header_without_allocating(odd_files):
    """4e8 declared pixels (1.2 GB of RGB): refused at open, before any pixel buffer exists."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, a high-water mark
    start = time.time()
    with pytest.raises(ValueError, match=r"bomb\.png: not a readable image, refused as too large \(400000000 "
                                         r"pixels, more than the \d+ accepted: .*MAX_PIXELS"):
        load_image(odd_files["bomb"])
    assert time.time() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # < 200 MB more


def test_pixel_limit(tmp_path, monkeypatch):
    """MAX_PIXELS decides, in one line naming the file: up to it the image loads without PIL's warning (PIL only
    warns below twice its own limit); above it, refused; above twice PIL's, PIL refuses first, in the same words."""
    monkeypatch.setattr(images, "MAX_PIXELS", 150)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ok = save_image(tmp_path / "ok.png", np.zeros((10, 15, 3), np.uint8))
    refused = save_image(tmp_path / "refused.png", np.zeros((10, 16, 3), np.uint8))
    bomb = save_image(tmp_path / "bomb.png", np.zeros((10, 21, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(ok).shape == (10, 15, 3)
    for path, pixels in ((refused, 160), (bomb, 210)):
        with pytest.raises(ValueError) as info:
            load_image(path)
        assert str(info.value) == (f"{path}: not a readable image, refused as too large ({pixels} pixels, more "
                                   "than the 150 accepted: keras_irdi.data.images.MAX_PIXELS, a guard against "
                                   "decompression bombs)")
    # In a folder, a refused file is skipped with a warning like any unreadable one.
    with pytest.warns(UserWarning) as caught:
        assert len(load_image_folder(tmp_path)) == 1
    assert sorted(str(w.message).split(":")[0] for w in caught) == [f"skipping {bomb}", f"skipping {refused}"]


def _mutations(seed_files: dict, n: int, seed: int):
    rng = np.random.default_rng(seed)
    names = sorted(seed_files)
    for i in range(n):
        name = names[i % len(names)]
        data = bytearray(seed_files[name])
        how = i % 4
        if how == 0:  # flip a few bytes anywhere
            for pos in rng.integers(0, len(data), rng.integers(1, 8)):
                data[pos] = rng.integers(0, 256)
        elif how == 1:  # truncate
            data = data[: rng.integers(0, len(data))]
        elif how == 2:  # garble the header, where sizes and modes are declared
            pos = rng.integers(0, min(len(data), 64))
            data[pos:pos + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        else:  # trailing garbage
            data += rng.integers(0, 256, rng.integers(1, 100), dtype=np.uint8).tobytes()
        yield name, bytes(data)


def test_fuzzed_files_load_or_raise_value_error(tmp_path):
    """Mutated PNG/JPEG/BMP/GIF/WEBP/TIFF files: a uint8 RGB array or a ValueError naming the file,
    nothing else (this found the decompression-bomb error escaping load_image unnamed)."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8))
    seeds = {}
    for fmt in ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"):
        buf = io.BytesIO()
        image.save(buf, fmt)
        seeds[fmt.lower()] = buf.getvalue()
    counts = {"ok": 0, "ValueError": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about odd but decodable files
        for i, (ext, data) in enumerate(_mutations(seeds, 1500, seed=20201025)):
            path = tmp_path / f"fuzz_{i % 7}.{ext}"
            path.write_bytes(data)
            try:
                out = load_image(path)
            except ValueError as err:
                assert str(err).startswith(f"{path}: not a readable image"), (i, str(err))
                counts["ValueError"] += 1
            else:
                assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, i
                counts["ok"] += 1
    assert counts["ok"] > 300 and counts["ValueError"] > 300, counts


# -- folders: load_image_folder ----------------------------------------------------------------------
@pytest.fixture
def mixed_folder(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a_rgb.png")
    Image.fromarray(np.full((6, 5), 77, np.uint8)).save(tmp_path / "b_gray.PNG")
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:, :2, 3] = 255  # left two columns opaque, the rest fully transparent
    Image.fromarray(rgba).save(tmp_path / "c_rgba.png")
    sixteen = np.full((6, 5), 32896, np.uint16)
    sixteen[0, 0] = 65535
    Image.fromarray(sixteen).save(tmp_path / "d_16bit.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "e_palette.png")
    (tmp_path / "x.png").write_bytes(np.random.default_rng(1).integers(0, 256, 500, np.uint8).tobytes())
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), np.uint8)).save(jpeg, "JPEG")
    (tmp_path / "y_truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (tmp_path / "notes.txt").write_text("not an image, and not looked at")
    return tmp_path, rgb


def test_load_image_folder_converts_and_skips(mixed_folder, caplog):
    folder, rgb = mixed_folder
    with caplog.at_level(logging.INFO, logger="keras_irdi"):
        with pytest.warns(UserWarning) as warned:
            images = load_image_folder(folder)
    messages = [str(w.message) for w in warned]
    assert len(messages) == 2
    assert "x.png: not a readable image" in messages[0] and "y_truncated.jpg" in messages[1]
    assert "converted I;16 image" in caplog.text

    assert len(images) == 5 and all(im.dtype == np.uint8 and im.shape == (6, 5, 3) for im in images)
    rgb_im, gray, rgba, sixteen, palette = images
    np.testing.assert_array_equal(rgb_im, rgb)
    assert (gray == 77).all()
    assert (rgba[:, :2] == (10, 20, 30)).all() and (rgba[:, 2:] == 255).all()  # transparent -> white
    assert sixteen[0, 0].tolist() == [255] * 3 and (sixteen[1:] == 128).all()  # scaled, not clipped
    assert np.abs(palette.astype(int) - rgb).max() <= 64  # adaptive palette approximates the colours


def test_load_image_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png: not a readable image"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match=r"images: no loadable images.*\*\.png"):
        load_image_folder(tmp_path / "images")
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        load_image_folder([tmp_path / "missing_folder"])


def test_load_image_folder_min_size(mixed_folder):
    folder, _ = mixed_folder
    with pytest.warns(UserWarning) as warned, pytest.raises(ValueError, match="no loadable images"):
        load_image_folder(str(folder), min_size=8)
    assert sum("5x6 is smaller than min_size=8" in str(w.message) for w in warned) == 5


def test_default_clean_images():
    images = default_clean_images()
    assert len(images) >= 3
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images)


def test_load_image_folder_with_every_odd_file(odd_files):
    folder = odd_files["rgb"].parent  # holds every file of the fixture (and a folder named like an image)
    with pytest.warns(UserWarning) as warned:
        images = load_image_folder(folder)
    skipped = sorted(str(w.message).split(":")[0].removeprefix("skipping ") for w in warned
                     if str(w.message).startswith("skipping "))
    expected = sorted(str(odd_files[n]) for n in UNREADABLE if n != "directory")  # folders are not listed
    assert skipped == expected
    assert len(images) == len(CONVERTED)
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images)


def test_load_image_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    (tmp_path / "sub.png").mkdir()  # a folder with an image extension is not an image
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.warns(UserWarning, match="broken.jpg"):
        with pytest.raises(ValueError, match=rf"{tmp_path.name}: no loadable images"):
            load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="image folder not found: .*nowhere"):
        load_image_folder([tmp_path / "nowhere", tmp_path])


def test_real_clean_folder(shared_clean_dir):
    images = load_image_folder(shared_clean_dir)
    assert len(images) == 91 and all(im.dtype == np.uint8 and im.shape[2] == 3 for im in images)


# -- patches ----------------------------------------------------------------------------------------
def test_extract_patches_grid_equals_crops():
    rng = np.random.default_rng(0)
    big, small = rng.integers(0, 256, (20, 30, 3), np.uint8), rng.integers(0, 256, (7, 40, 3), np.uint8)
    patches = extract_patches([big, small], size=8, stride=6, augment=False)
    tops, lefts = range(0, 13, 6), range(0, 23, 6)
    assert patches.shape == (len(tops) * len(lefts), 8, 8, 3) and patches.dtype == np.uint8
    expected = [big[t:t + 8, left:left + 8] for t in tops for left in lefts]  # the 7-pixel-high image is skipped
    np.testing.assert_array_equal(patches, expected)


def test_extract_patches_augmentation_is_dihedral():
    image = np.random.default_rng(1).integers(0, 256, (16, 8, 3), np.uint8)
    patches = extract_patches([image], size=8, stride=8, augment=True)
    assert patches.shape == (16, 8, 8, 3)
    for crop, group in ((image[:8], patches[:8]), (image[8:], patches[8:])):
        variants = [crop, crop[:, ::-1], crop[::-1], crop[::-1, ::-1]]
        variants += [v.transpose(1, 0, 2) for v in variants]
        found = {min(i for i, v in enumerate(variants) if np.array_equal(p, v)) for p in group}
        assert found == set(range(8))  # all 8 distinct variants, each a real transform of the crop
        np.testing.assert_array_equal(group[0], crop)


def test_extract_patches_cap_is_seeded():
    images = [np.random.default_rng(2).integers(0, 256, (40, 40, 3), np.uint8)]
    everything = extract_patches(images, size=8, stride=8)
    a = extract_patches(images, size=8, stride=8, max_patches=30, seed=3)
    assert a.shape == (30, 8, 8, 3) and len(everything) == 25 * 8
    np.testing.assert_array_equal(a, extract_patches(images, size=8, stride=8, max_patches=30, seed=3))
    assert not np.array_equal(a, extract_patches(images, size=8, stride=8, max_patches=30, seed=4))
    members = {p.tobytes() for p in everything}
    assert all(p.tobytes() in members for p in a)
    assert len(extract_patches(images, size=8, stride=8, max_patches=10_000)) == 200


def test_extract_patches_too_small():
    with pytest.raises(ValueError, match="at least 64x64"):
        extract_patches([np.zeros((63, 100, 3), np.uint8)], size=64)
