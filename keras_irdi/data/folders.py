"""A user's own labelled images as a classification dataset: ``--dataset folder:PATH``.

Layout (as Keras' ``image_dataset_from_directory``)::

    PATH/train/<class>/*.png|jpg|...     one sub-folder per class, any number of classes (two or more)
    PATH/test/<class>/*                   the same class names (a class may lack test images)

Each image is read under the input rules of the serving tools (``data.images.read_input_file``: formats,
sizes, EXIF orientation), centre-cropped to a square and resized to the networks' 32x32 input with PIL's
Lanczos filter, so the degradations (PIL JPEG among them) apply afterwards, to the pixels the networks see, as
on CIFAR. Training images are shuffled once with a fixed seed (the validation split is the last share of them,
so it must not be one class); the limits keep the first N of that order, so small runs nest in larger ones.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from keras_irdi.errors import InputError, MissingError

SIZE = 32  # every preset's input size (CIFAR's)
ORDER_SEED = 0  # the one shuffle of the training files: every run of a folder sees the same split


def load_image_folders(data_dir, limit_train: int | None = None, limit_test: int | None = None) -> dict:
    """PATH/train and PATH/test -> the arrays of ``data.cifar.load_cifar`` (uint8 (N, 32, 32, 3), int64 labels,
    class names, source, sha256)."""
    root = Path(data_dir).expanduser()
    layout = "PATH/train/<class>/ and PATH/test/<class>/ (one sub-folder of images per class)"
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise MissingError(f"--dataset folder:{root}: no train/ and test/ folders there; expected {layout}")
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise InputError(f"{root / 'train'}: {len(classes)} class folder(s); a classifier needs two or more "
                         f"({layout})")
    unknown = sorted(d.name for d in (root / "test").iterdir() if d.is_dir() and d.name not in classes)
    if unknown:
        raise InputError(f"{root / 'test'}: class folder(s) {', '.join(unknown)} have no training images "
                         f"(train/ has {', '.join(classes)})")
    train = _listing(root / "train", classes)
    if not train:
        raise MissingError(f"{root / 'train'}: no image files in its class folders")
    train = [train[i] for i in np.random.default_rng(ORDER_SEED).permutation(len(train))][:limit_train]
    test = _listing(root / "test", classes)[:limit_test]
    out = {}
    for split, files in (("train", train), ("test", test)):
        out[f"x_{split}"] = np.stack([_read(path) for path, _ in files]) if files else \
            np.zeros((0, SIZE, SIZE, 3), np.uint8)
        out[f"y_{split}"] = np.array([label for _, label in files], dtype=np.int64)
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(np.ascontiguousarray(out[key]).tobytes())
    return {**out, "class_names": classes, "source": f"image folders {root.name}", "sha256": digest.hexdigest()}


def _listing(split_dir: Path, classes: list) -> list:
    """(file, label) of every image file under ``split_dir/<class>/``, in a fixed order."""
    from keras_irdi.data.images import IMAGE_EXTENSIONS

    files = []
    for label, name in enumerate(classes):
        folder = split_dir / name
        if folder.is_dir():
            files += [(p, label) for p in sorted(folder.iterdir())
                      if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return files


def _read(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    from keras_irdi.data.images import read_input_file

    image = Image.fromarray(read_input_file(path))
    return np.asarray(ImageOps.fit(image, (SIZE, SIZE), method=Image.Resampling.LANCZOS), dtype=np.uint8)
