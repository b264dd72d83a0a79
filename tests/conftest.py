"""Shared fixtures. Every test runs offline on a fresh clone: real CIFAR-10 images come from the subset
bundled with the package (keras_irdi/data/bundled/), clean photos from scikit-image. The full development
copy (`$IRDI_DATA`, else `../shared/data` next to the repository) is used only by the tests that check that
copy itself; they say so when they skip."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("IRDI_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def cifar_dir():
    """Real CIFAR-10: the bundled subset (1400 train, 200 test images, .npz), which load_cifar accepts."""
    from keras_irdi.data.cifar import BUNDLED_CIFAR10

    return BUNDLED_CIFAR10


@pytest.fixture(scope="session")
def clean_dir(tmp_path_factory):
    """A folder of clean colour photographs: scikit-image's bundled lossless photos, as PNG files."""
    from PIL import Image

    from keras_irdi.data.images import default_clean_images

    folder = tmp_path_factory.mktemp("clean")
    for i, image in enumerate(default_clean_images()):
        Image.fromarray(image).save(folder / f"photo_{i}.png")
    return folder


@pytest.fixture(scope="session")
def shared_cifar_dir(tmp_path_factory):
    """The full development copy of CIFAR-10 (45,000 + 1000 images), unpacked into the official layout."""
    unpack = SHARED_DATA / "cifar10" / "unpack.py"
    if not unpack.is_file():
        pytest.skip(f"the development data folder is not beside this clone ({unpack} missing; set IRDI_DATA)")
    dest = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(unpack), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def shared_clean_dir():
    """The T91 clean photographs (Yang91 in the paper) of the development data folder."""
    folder = SHARED_DATA / "clean" / "T91"
    if not folder.is_dir():
        pytest.skip(f"the development data folder is not beside this clone ({folder} missing; set IRDI_DATA)")
    return folder


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_tiny_run(path, degradation="jpeg", class_names=CIFAR10_NAMES, seed=0):
    """A run directory with all six stages as tiny random-weight models (seconds to build, no training)."""
    import keras

    from keras_irdi.artifacts import RunDir
    from keras_irdi.degradations import get_degradation
    from keras_irdi.models import (build_classifier, build_level_estimator, build_restoration_net,
                                   build_weight_net)

    keras.utils.set_random_seed(seed)
    run = RunDir(path)
    n = len(class_names)
    stages = {
        "restoration": build_restoration_net(4),
        "estimator": build_level_estimator(4),
        "weight_net": build_weight_net(unit=get_degradation(degradation).unit, hidden=(4,)),
        **{name: build_classifier(num_classes=n, filters=(4, 8, 8), dense_units=8, name=name)
           for name in ("cla_org", "cla_deg", "cla_res")},
    }
    for stage, model in stages.items():
        run.save_stage(stage, model, config={}, export=False)
    run.update_manifest(config={"degradation": degradation, "dataset": "cifar10", "preset": {"name": "tiny"}},
                        class_names=list(class_names), input_size=32)
    return run.path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Path of a JPEG run directory whose six stages are tiny random-weight models (see make_tiny_run)."""
    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"))


def run_script(script, *args, timeout=900):
    """Run one of the repository's CLI scripts the way a user does."""
    repo = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, str(repo / script), *map(str, args)], capture_output=True,
                          text=True, cwd=repo, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The CI end-to-end run: the README's first command, with no data options (bundled CIFAR-10 subset,
    scikit-image photos), so it is also the check that a fresh clone trains offline."""
    run = tmp_path_factory.mktemp("smoke") / "run"
    env_cifar = os.environ.pop("IRDI_CIFAR_DIR", None)
    try:
        proc = run_script("train/all.py", "--preset", "smoke", "--run-dir", run)
    finally:
        if env_cifar is not None:
            os.environ["IRDI_CIFAR_DIR"] = env_cifar
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the bundled CIFAR-10 subset" in proc.stdout
    return run, proc
