"""The classification datasets a run can train and be evaluated on, each declared once.

A run names its dataset (``RunConfig.dataset``; the sweep files are ``<degradation>_<dataset>.csv``) and keeps
where this machine holds it apart (``RuntimeConfig.data_dir``, ``--data-dir``). Every dataset loads into the
same arrays: uint8 (N, 32, 32, 3) images, int64 labels, class names, a source and a sha256 of what was
returned (``data/cifar.py``). A user's own labelled images come in as ``--dataset folder:PATH``
(``data/folders.py``). Adding a dataset is one ``register_dataset`` call.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from keras_irdi.errors import InputError


@dataclass(frozen=True)
class Dataset:
    name: str
    display: str              # how tables and pages name it ("CIFAR-10")
    # ``loader(data_dir, limit_train, limit_test) -> dict`` (the arrays above), "module:function" in data/,
    # imported when the data is read (this floor imports no TensorFlow).
    loader: str
    needs_dir: bool = False   # no download to fall back on: --data-dir (or NAME:PATH) is required
    help: str = ""

    def load(self, data_dir=None, limit_train: int | None = None, limit_test: int | None = None) -> dict:
        if self.needs_dir and not data_dir:
            raise InputError(f"--dataset {self.name} needs the data's folder: --dataset {self.name}:PATH "
                             "(or --data-dir PATH)")
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(module), function)(data_dir, limit_train, limit_test)


DATASETS: dict = {}


def register_dataset(dataset: Dataset) -> Dataset:
    if dataset.name in DATASETS or ":" in dataset.name or "_" in dataset.name:
        raise ValueError(f"dataset name {dataset.name!r} is taken or holds ':' or '_' (a sweep file's separator)")
    DATASETS[dataset.name] = dataset
    return dataset


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} "
                         "(folder:PATH for your own images)") from None


def parse_dataset(text: str) -> tuple:
    """``--dataset`` -> (name, folder or None): ``cifar10`` -> ("cifar10", None), ``folder:/data/x`` ->
    ("folder", "/data/x"); an unknown name is one line."""
    name, _, path = text.partition(":")
    get_dataset(name)
    return name, (path or None)


def display_name(name: str) -> str:
    """The tables' name of a dataset ("CIFAR-10"); an unregistered one by its own name."""
    return DATASETS[name].display if name in DATASETS else name


register_dataset(Dataset("cifar10", "CIFAR-10", "keras_irdi.data.cifar:load_cifar10",
                         help="the paper's Table 3 (keras.datasets, or a local copy: --data-dir)"))
register_dataset(Dataset("cifar100", "CIFAR-100", "keras_irdi.data.cifar:load_cifar100",
                         help="the paper's Table 4 (keras.datasets, or a local copy: --data-dir)"))
register_dataset(Dataset("folder", "image folder", "keras_irdi.data.folders:load_image_folders", needs_dir=True,
                         help="your own labelled images: PATH/train/<class>/*, PATH/test/<class>/*"))
