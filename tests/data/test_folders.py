"""A user's own labelled images as a dataset (`--dataset folder:PATH`, keras_irdi/data/folders.py): the layout,
the one-line errors, the crop and resize to the networks' input. A smoke run that trains, sweeps and exports on
such a folder: tests/commands/test_irdi.py (from an installed wheel)."""
import numpy as np
import pytest
from PIL import Image

from helpers import CLASSES, write_folders
from keras_irdi.data.folders import load_image_folders
from keras_irdi.datasets import get_dataset, parse_dataset
from keras_irdi.errors import InputError, MissingError

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
