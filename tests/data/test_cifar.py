"""keras_irdi.data.cifar: CIFAR in every accepted layout (pickles, .npz, the bundled subset) and its errors."""
import pickle
import sys
import types

import numpy as np
import pytest

from keras_irdi.data.cifar import BUNDLED_CIFAR10, CLASS_NAMES, load_cifar
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


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; choose one of \['cifar10', 'cifar100'\]"):
        load_cifar("svhn")


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
    with pytest.raises(MissingError, match="--data-dir DIR") as info:
        load_cifar("cifar10")
    msg = str(info.value)
    assert "IRDI_CIFAR_DIR" in msg and "\n" not in msg and "../shared" not in msg  # one line, no dev paths
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.slow  # unpacks the 45,000-image development copy
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
