"""A user's own labelled images as a dataset (`--dataset folder:PATH`, keras_irdi/data/folders.py): the layout,
the one-line errors, the crop and resize to the networks' input, and a smoke run that trains, sweeps and exports
on three classes of real images."""
import numpy as np
import pytest
from PIL import Image

from helpers import run_irdi
from keras_irdi.data.folders import load_image_folders
from keras_irdi.datasets import get_dataset, parse_dataset
from keras_irdi.errors import InputError, MissingError

CLASSES = ("airplane", "automobile", "bird")


def write_folders(root, cifar_dir, n_train=60, n_test=20):
    """root/{train,test}/<class>/ from the bundled real CIFAR-10 images of three classes: PNGs, and every fifth
    training image a larger non-square JPEG (the loader must crop and resize it back to 32x32)."""
    from keras_irdi.data.cifar import load_cifar

    data = load_cifar("cifar10", cifar_dir=str(cifar_dir))
    x, y = data["x_train"], data["y_train"]  # 140 of each class: the first n_train train, the next n_test test
    for split, first, n in (("train", 0, n_train), ("test", n_train, n_test)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i, image in enumerate(x[y == label][first:first + n]):
                if split == "train" and i % 5 == 0:
                    Image.fromarray(image).resize((48, 40), Image.BICUBIC).save(folder / f"{i:03d}.jpg", quality=95)
                else:
                    Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory, cifar_dir):
    return write_folders(tmp_path_factory.mktemp("photos"), cifar_dir)


def test_the_layout_loads_as_cifar_does(folders):
    data = load_image_folders(folders)
    assert data["class_names"] == list(CLASSES)
    assert data["x_train"].shape == (180, 32, 32, 3) and data["x_train"].dtype == np.uint8
    assert data["x_test"].shape == (60, 32, 32, 3) and sorted(set(data["y_test"])) == [0, 1, 2]
    # The training order is shuffled once (the validation split is its tail: not one class) and fixed.
    assert len(set(data["y_train"][-20:])) == 3
    again = load_image_folders(folders, limit_train=50, limit_test=10)
    assert np.array_equal(again["x_train"], data["x_train"][:50]) and again["sha256"] != data["sha256"]
    # A PNG comes back as its pixels; the larger JPEG is cropped and resized to 32x32.
    png = np.asarray(Image.open(folders / "test" / "bird" / "000.png"))
    assert any(np.array_equal(png, x) for x in data["x_test"])
    assert get_dataset("folder").load(str(folders), 1, 1)["x_train"].shape == (1, 32, 32, 3)


def test_bad_layouts_are_one_line(tmp_path, folders):
    with pytest.raises(MissingError, match="no train/ and test/ folders there"):
        load_image_folders(tmp_path)
    (tmp_path / "one" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "one" / "test").mkdir()
    with pytest.raises(InputError, match="1 class folder\\(s\\); a classifier needs two or more"):
        load_image_folders(tmp_path / "one")
    (tmp_path / "one" / "train" / "dog").mkdir()
    (tmp_path / "one" / "test" / "horse").mkdir()
    with pytest.raises(InputError, match="class folder\\(s\\) horse have no training images"):
        load_image_folders(tmp_path / "one")
    with pytest.raises(InputError, match="--dataset folder needs the data's folder"):
        get_dataset("folder").load(None)
    with pytest.raises(InputError, match="unknown dataset 'mnist'"):
        parse_dataset("mnist")
    assert parse_dataset(f"folder:{folders}") == ("folder", str(folders))


def test_a_broken_image_names_its_file(tmp_path, folders):
    import shutil

    root = shutil.copytree(folders, tmp_path / "copy")
    (root / "train" / "bird" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png"):
        load_image_folders(root)


@pytest.mark.slow
def test_smoke_run_on_image_folders_trains_sweeps_and_exports(tmp_path, folders):
    proc = run_irdi("train", "--preset", "smoke", "--dataset", f"folder:{folders}", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["class_names"] == list(CLASSES) and manifest["config"]["dataset"] == "folder"
    assert manifest["data"]["test"] == 60
    assert (tmp_path / "run" / "eval" / "jpeg_folder.csv").is_file()
    assert "JPEG image folder" in (tmp_path / "run" / "tables" / "SUMMARY.md").read_text()
    proc = run_irdi("export", "--run-dir", tmp_path / "run", "--out", tmp_path / "exports")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "exports" / "proposed" / "1" / "saved_model.pb").is_file()
    # The same folder given as --data-dir: the run reopens with it.
    proc = run_irdi("train", "--run-dir", tmp_path / "run", "--dataset", "folder", "--data-dir", folders,
                    "--no-eval")
    assert proc.returncode == 0 and proc.stdout.count("up to date, skipped") >= 6, proc.stderr[-2000:]
