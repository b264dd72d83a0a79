"""Dataset loaders: CIFAR in every accepted layout, clean-image folders and patch extraction."""
import io
import logging
import pickle
import sys
import types

import numpy as np
import pytest
from PIL import Image

from keras_irdi.data.cifar import BUNDLED_CIFAR10, CLASS_NAMES, load_cifar
from keras_irdi.data.images import default_clean_images, extract_patches, load_image, load_image_folder
from keras_irdi.errors import MissingError


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _rows(x):
    """The official CIFAR row format: R plane, G plane, B plane."""
    return x.transpose(0, 3, 1, 2).reshape(len(x), 3072)


def _dump(path, obj, protocol):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


@pytest.fixture
def fake_cifar10(tmp_path):
    """A tiny cifar-10-batches-py: batches of 7 and 5 images, 4 test images, mixed key types/protocols."""
    x = {"b1": _images(7, 1), "b2": _images(5, 2), "test": _images(4, 3)}
    y = {"b1": [0, 1, 2, 3, 4, 5, 6], "b2": [7, 8, 9, 0, 1], "test": [3, 8, 8, 0]}
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _dump(folder / "data_batch_1", {b"data": _rows(x["b1"]), b"labels": y["b1"]}, protocol=2)
    _dump(folder / "data_batch_2", {"data": _rows(x["b2"]), "labels": y["b2"]}, protocol=5)
    _dump(folder / "test_batch", {b"data": _rows(x["test"]), b"labels": y["test"]}, protocol=4)
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CLASS_NAMES["cifar10"]]}, protocol=2)
    return tmp_path, x, y


def test_cifar10_pickle_layout(fake_cifar10):
    root, x, y = fake_cifar10
    data = load_cifar("cifar10", cifar_dir=str(root))
    np.testing.assert_array_equal(data["x_train"], np.concatenate([x["b1"], x["b2"]]))
    np.testing.assert_array_equal(data["y_train"], y["b1"] + y["b2"])
    np.testing.assert_array_equal(data["x_test"], x["test"])
    np.testing.assert_array_equal(data["y_test"], y["test"])
    assert data["x_train"].dtype == np.uint8 and data["x_train"].shape == (12, 32, 32, 3)
    assert data["y_train"].dtype == np.int64 and data["y_train"].shape == (12,)
    assert data["class_names"] == CLASS_NAMES["cifar10"]
    assert data["source"] == str(root / "cifar-10-batches-py")
    # The batch folder itself is accepted too, with the same result.
    assert load_cifar("cifar10", cifar_dir=root / "cifar-10-batches-py")["sha256"] == data["sha256"]


def test_cifar_limits_take_first_images(fake_cifar10):
    root, x, y = fake_cifar10
    full = load_cifar("cifar10", cifar_dir=root)
    data = load_cifar("cifar10", cifar_dir=root, limit_train=9, limit_test=2)
    np.testing.assert_array_equal(data["x_train"], np.concatenate([x["b1"], x["b2"]])[:9])
    np.testing.assert_array_equal(data["y_test"], y["test"][:2])
    assert data["x_test"].shape == (2, 32, 32, 3)
    assert data["sha256"] != full["sha256"]  # the digest describes what was returned


def test_cifar100_pickle_layout(tmp_path):
    x_train, x_test = _images(6, 4), _images(3, 5)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _dump(folder / "train", {b"data": _rows(x_train), b"fine_labels": [99, 0, 5, 42, 7, 1],
                             b"coarse_labels": [19, 0, 1, 2, 3, 4]}, protocol=2)
    _dump(folder / "test", {b"data": _rows(x_test), b"fine_labels": [1, 2, 98]}, protocol=4)
    names = [f"fine_{i}" for i in range(100)]
    _dump(folder / "meta", {b"fine_label_names": [n.encode() for n in names]}, protocol=2)
    data = load_cifar("cifar100", cifar_dir=tmp_path)
    np.testing.assert_array_equal(data["x_train"], x_train)
    np.testing.assert_array_equal(data["y_train"], [99, 0, 5, 42, 7, 1])
    np.testing.assert_array_equal(data["x_test"], x_test)
    np.testing.assert_array_equal(data["y_test"], [1, 2, 98])
    assert data["class_names"] == names


def _write_npz(path, n_train=5, n_test=3, **override):
    arrays = dict(x_train=_images(n_train, 6), y_train=np.arange(n_train) % 10,
                  x_test=_images(n_test, 7), y_test=np.arange(n_test)[:, None])  # (N, 1) as Keras gives
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_cifar_npz_layouts(tmp_path):
    arrays = _write_npz(tmp_path / "cifar10.npz")
    for where in (tmp_path, tmp_path / "cifar10.npz"):
        data = load_cifar("cifar10", cifar_dir=where)
        np.testing.assert_array_equal(data["x_train"], arrays["x_train"])
        np.testing.assert_array_equal(data["y_test"], [0, 1, 2])
        assert data["y_test"].dtype == np.int64 and data["y_test"].shape == (3,)
        assert data["source"] == str(tmp_path / "cifar10.npz")


def test_cifar_env_var(fake_cifar10, monkeypatch):
    root, x, _ = fake_cifar10
    monkeypatch.setenv("IRDI_CIFAR_DIR", str(root))
    np.testing.assert_array_equal(load_cifar("cifar10")["x_test"], x["test"])


def test_cifar_errors(tmp_path, fake_cifar10):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar("cifar10", cifar_dir=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar("cifar10", cifar_dir=tmp_path / "empty")
    with pytest.raises(ValueError, match="cifar10.*cifar100"):
        load_cifar("mnist", cifar_dir=tmp_path)

    bad = tmp_path / "bad.npz"
    _write_npz(bad, x_train=np.zeros((5, 28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match=r"bad\.npz.*x_train.*\(5, 28, 28, 3\)"):
        load_cifar("cifar10", cifar_dir=bad)
    np.savez(bad, x_train=_images(2, 0), y_train=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"bad\.npz: missing keys \['x_test', 'y_test'\]"):
        load_cifar("cifar10", cifar_dir=bad)

    root, _, _ = fake_cifar10
    _dump(root / "cifar-10-batches-py" / "test_batch", {b"data": np.zeros((2, 1024), np.uint8),
                                                        b"labels": [0, 1]}, protocol=2)
    with pytest.raises(ValueError, match="test_batch.*3072"):
        load_cifar("cifar10", cifar_dir=root)


def test_cifar_pickle_cannot_run_code(fake_cifar10):
    """A pickle from an untrusted folder is only allowed to rebuild numpy arrays."""
    import os

    class Evil:
        def __reduce__(self):
            return os.getcwd, ()

    root, _, _ = fake_cifar10
    _dump(root / "cifar-10-batches-py" / "test_batch", {b"data": Evil(), b"labels": []}, protocol=4)
    with pytest.raises(ValueError, match="refusing to load posix.getcwd|refusing to load nt.getcwd"):
        load_cifar("cifar10", cifar_dir=root)


def test_cifar_offline_download_error_is_short(monkeypatch):
    """Without network, keras.datasets fails; the user gets what to do, not a TensorFlow trace."""
    def fail(**kwargs):
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/...: None -- [Errno -3]")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=types.SimpleNamespace(load_data=fail)))
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.delenv("IRDI_CIFAR_DIR", raising=False)
    with pytest.raises(MissingError, match="--cifar-dir DIR") as info:
        load_cifar("cifar10")
    msg = str(info.value)
    assert "IRDI_CIFAR_DIR" in msg and "\n" not in msg and "../shared" not in msg  # one line, no dev paths
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_real_cifar10_copy(shared_cifar_dir):
    data = load_cifar("cifar10", cifar_dir=shared_cifar_dir)
    assert data["x_train"].shape == (45000, 32, 32, 3) and data["x_train"].dtype == np.uint8
    assert data["x_test"].shape == (1000, 32, 32, 3) and data["x_test"].dtype == np.uint8
    assert data["y_test"][:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(data["y_test"], minlength=10).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    assert data["class_names"] == CLASS_NAMES["cifar10"]
    # The bundled subset is exactly the first images of this copy.
    sub = load_cifar("cifar10", cifar_dir=BUNDLED_CIFAR10)
    n_train, n_test = len(sub["x_train"]), len(sub["x_test"])
    assert np.array_equal(sub["x_train"], data["x_train"][:n_train])
    assert np.array_equal(sub["x_test"], data["x_test"][:n_test])
    assert np.array_equal(sub["y_train"], data["y_train"][:n_train])


def test_bundled_cifar10_subset():
    data = load_cifar("cifar10", cifar_dir=BUNDLED_CIFAR10)
    assert data["x_train"].shape == (1400, 32, 32, 3) and data["x_test"].shape == (200, 32, 32, 3)
    assert data["x_train"].dtype == np.uint8 and data["y_train"].dtype.kind == "i"
    assert data["y_test"][:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the official test_batch order
    assert set(np.unique(data["y_train"])) == set(range(10))
    assert BUNDLED_CIFAR10.stat().st_size < 6 * 2**20


def test_real_clean_folder(shared_clean_dir):
    images = load_image_folder(shared_clean_dir)
    assert len(images) == 91 and all(im.dtype == np.uint8 and im.shape[2] == 3 for im in images)


# --- clean images ---------------------------------------------------------------------------------


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


# --- patches --------------------------------------------------------------------------------------


def test_extract_patches_grid_equals_crops():
    rng = np.random.default_rng(0)
    big, small = rng.integers(0, 256, (20, 30, 3), np.uint8), rng.integers(0, 256, (7, 40, 3), np.uint8)
    patches = extract_patches([big, small], size=8, stride=6, augment=False)
    tops, lefts = range(0, 13, 6), range(0, 23, 6)
    assert patches.shape == (len(tops) * len(lefts), 8, 8, 3) and patches.dtype == np.uint8
    expected = [big[t:t + 8, l:l + 8] for t in tops for l in lefts]  # the 7-pixel-high image is skipped
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
