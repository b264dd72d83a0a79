"""CIFAR-10/100 loading from a local copy or through `keras.datasets`.

The experiments need the exact CIFAR pixels, so every source (official pickle batches, a `.npz` file or
Keras's own download cache) goes through the same validation and comes back in one format, with a sha256
that lets results name the data they were computed on.

Local copies are searched in this order: an explicit `cifar_dir`, the `IRDI_CIFAR_DIR` environment
variable, and only then `keras.datasets` (which downloads once and caches in `~/.keras/datasets`).
"""
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from keras_irdi.errors import InputError, MissingError

CLASS_NAMES = {
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "cifar100": None,  # read from the `meta` file of a local copy, else "class_0".."class_99"
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
ENV_VAR = "IRDI_CIFAR_DIR"
# 1400 training + 200 test images of real CIFAR-10 (bundled/README.md): the `smoke` preset's default source
# and the tests' data, so both work offline on a fresh clone.
BUNDLED_CIFAR10 = Path(__file__).resolve().parent / "bundled" / "cifar10_subset.npz"

# Per dataset: folder name of the official tarball, its train files, test file, label key, meta file/key.
_LAYOUT = {
    "cifar10": dict(folder="cifar-10-batches-py", train="data_batch_*", test="test_batch", labels="labels",
                    meta="batches.meta", names="label_names", npz="cifar10.npz"),
    "cifar100": dict(folder="cifar-100-python", train="train", test="test", labels="fine_labels",
                     meta="meta", names="fine_label_names", npz="cifar100.npz"),
}


def _accepted(dataset):
    """What a local copy may look like; the end of every 'copy not found' message (one line)."""
    layout = _LAYOUT[dataset]
    return (f"pass --data-dir DIR (or set {ENV_VAR}=DIR) with the official python layout "
            f"(DIR/{layout['folder']}/) or a .npz with x_train, y_train, x_test, y_test (DIR/{layout['npz']})")


def load_cifar(dataset: str = "cifar10", cifar_dir: str | None = None, limit_train: int | None = None,
               limit_test: int | None = None) -> dict:
    """Load CIFAR as uint8 (N, 32, 32, 3) images and int64 labels.

    `limit_train` / `limit_test` keep the first N images, so small runs are deterministic and nest inside
    larger ones. The returned `sha256` covers the arrays actually returned (after the limits).
    """
    if dataset not in _LAYOUT:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {sorted(_LAYOUT)}")
    for name, limit in (("limit_train", limit_train), ("limit_test", limit_test)):
        if limit is not None and limit < 0:
            raise InputError(f"{name} must be >= 0 or None, got {limit}")

    cifar_dir = cifar_dir or os.environ.get(ENV_VAR) or None
    if cifar_dir:
        data = _load_local(dataset, Path(cifar_dir).expanduser())
    else:
        data = _load_from_keras(dataset)

    data["x_train"], data["y_train"] = data["x_train"][:limit_train], data["y_train"][:limit_train]
    data["x_test"], data["y_test"] = data["x_test"][:limit_test], data["y_test"][:limit_test]
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(np.ascontiguousarray(data[key]).tobytes())
    data["sha256"] = digest.hexdigest()
    return data


def load_cifar10(data_dir=None, limit_train: int | None = None, limit_test: int | None = None) -> dict:
    """The ``cifar10`` dataset's loader (``keras_irdi.datasets``)."""
    return load_cifar("cifar10", data_dir, limit_train, limit_test)


def load_cifar100(data_dir=None, limit_train: int | None = None, limit_test: int | None = None) -> dict:
    """The ``cifar100`` dataset's loader (``keras_irdi.datasets``)."""
    return load_cifar("cifar100", data_dir, limit_train, limit_test)


def _load_local(dataset, path):
    layout = _LAYOUT[dataset]
    accepted = _accepted(dataset)
    if not path.exists():
        raise MissingError(f"CIFAR folder {path} does not exist; {accepted}")
    if path.is_file():
        if path.suffix != ".npz":
            raise InputError(f"{path} is a file but not a .npz archive; {accepted}")
        return _load_npz(dataset, path)
    for folder in (path / layout["folder"], path):
        if (folder / layout["test"]).is_file():
            return _load_pickles(dataset, folder)
    if (path / layout["npz"]).is_file():
        return _load_npz(dataset, path / layout["npz"])
    raise MissingError(
        f"no {dataset} copy found in {path}: looked for {path / layout['folder'] / layout['test']}, "
        f"{path / layout['test']} and {path / layout['npz']}; {accepted}")


def _load_pickles(dataset, folder):
    layout = _LAYOUT[dataset]
    # data_batch_10 must come after data_batch_9, so sort by the number, not the name.
    train_files = sorted(folder.glob(layout["train"]), key=lambda p: (len(p.name), p.name))
    if not train_files:
        raise MissingError(f"{folder} has a test file but no training file ({layout['train']})")
    x_train, y_train = zip(*(_read_batch(dataset, f) for f in train_files))
    x_test, y_test = _read_batch(dataset, folder / layout["test"])

    class_names = CLASS_NAMES[dataset]
    meta = folder / layout["meta"]
    if meta.is_file():
        names = _unpickle(meta).get(layout["names"])
        if names is None:
            raise InputError(f"{meta}: no {layout['names']!r} entry; delete the file to use default names")
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return _checked(dataset, np.concatenate(x_train), np.concatenate(y_train), x_test, y_test,
                    class_names, source=str(folder))


def _read_batch(dataset, path):
    batch = _unpickle(path)
    key = _LAYOUT[dataset]["labels"]
    if "data" not in batch or key not in batch:
        raise InputError(f"{path}: not a {dataset} batch (needs 'data' and {key!r}, has {sorted(batch)})")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(f"{path}: 'data' must be uint8 rows of 3072 bytes (32x32 RGB planes), "
                         f"got {data.dtype} {data.shape}; is this really a CIFAR file?")
    labels = np.asarray(batch[key])
    if len(labels) != len(data):
        raise InputError(f"{path}: {len(data)} images but {len(labels)} labels; the file is damaged")
    # Each row holds the R plane, then G, then B, each 32x32 row-major.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _load_npz(dataset, path):
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a readable .npz archive ({err})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: holds a single array, not a .npz archive with x_train, y_train, x_test, y_test")
    with npz:
        missing = sorted({"x_train", "y_train", "x_test", "y_test"} - set(npz.files))
        if missing:
            raise InputError(f"{path}: missing keys {missing} (has {sorted(npz.files)}); save it with "
                             "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
        try:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = [str(n) for n in npz["class_names"]] if "class_names" in npz.files else None
        except ValueError as err:  # object arrays need pickle, which stays off for untrusted files
            raise InputError(f"{path}: {err}") from None
    return _checked(dataset, **arrays, class_names=names or CLASS_NAMES[dataset], source=str(path))


def _load_from_keras(dataset):
    import keras  # deferred: importing TensorFlow is slow and not needed for local copies

    try:
        if dataset == "cifar10":
            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        else:
            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data(label_mode="fine")
    except Exception as err:  # Keras raises a bare Exception on URL failures
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise MissingError(
            f"could not download {dataset} with keras.datasets ({reason}); without network access "
            + _accepted(dataset)) from None
    return _checked(dataset, x_train, y_train, x_test, y_test, CLASS_NAMES[dataset], source="keras.datasets")


def _checked(dataset, x_train, y_train, x_test, y_test, class_names, source):
    """Validate one split pair from any source and bring labels to int64 1-D."""
    n_classes = NUM_CLASSES[dataset]
    out = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise InputError(f"{source}: x_{split} must be uint8 (N, 32, 32, 3), got {x.dtype} {x.shape}")
        if y.ndim == 2 and y.shape[1] == 1:  # Keras returns (N, 1) labels
            y = y[:, 0]
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise InputError(f"{source}: y_{split} must be {len(x)} integer labels, got {y.dtype} {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(f"{source}: y_{split} has labels outside 0..{n_classes - 1}; wrong dataset name?")
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int64)
    if class_names is None:
        class_names = [f"class_{i}" for i in range(n_classes)]
    if len(class_names) != n_classes:
        raise InputError(f"{source}: {len(class_names)} class names for {n_classes}-class {dataset}")
    return {**out, "class_names": list(class_names), "source": source}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuse everything but numpy arrays: a pickle from an untrusted folder could otherwise run code."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (f"numpy.{core}.{mod}", name) for core in ("core", "_core")
        for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path):
    """Read one CIFAR pickle; keys come back as str whether the file stored bytes (Python 2) or str."""
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as err:
        raise InputError(f"{path}: not a readable CIFAR pickle ({err})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a dict in the pickle, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
