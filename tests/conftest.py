"""Shared fixtures. Every test runs offline on a fresh clone: real CIFAR-10 images come from the subset
bundled with the package (keras_irdi/data/bundled/), clean photos from scikit-image. The full development
copy (`$IRDI_DATA`, else `../shared/data` next to the repository) is used only by the tests that check that
copy itself; they say so when they skip."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# In-process tests run TensorFlow as the command-line tools do (tfenv.load_tensorflow): with oneDNN on.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from helpers import random_stages, run_irdi
from odd_images import make_odd_files

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


def make_tiny_run(path, degradation="jpeg", class_names=None, seed=0):
    """A run directory with all six stages as tiny random-weight models (seconds to build, no training)."""
    from keras_irdi.runs.directory import RunDir
    from keras_irdi.runs.provenance import SCHEMA_VERSION
    from keras_irdi.data.cifar import CLASS_NAMES

    class_names = list(class_names or CLASS_NAMES["cifar10"])
    run = RunDir(path)
    for stage, model in random_stages(degradation, len(class_names), seed).items():
        run.save_stage(stage, model, config={}, export=False)
    run.update_manifest(schema_version=SCHEMA_VERSION,
                        config={"degradation": degradation, "dataset": "cifar10", "preset": {"name": "tiny"}},
                        class_names=class_names, input_size=32)
    return run.path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The one tiny six-stage run the composite, export, predict and stage-reuse tests share: a JPEG run
    directory whose stages are random-weight models (see make_tiny_run). Load from it; never write into it."""
    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="session")
def odd_files(tmp_path_factory):
    """Every odd and every unreadable image file of odd_images.py, by name, in one folder."""
    return make_odd_files(tmp_path_factory.mktemp("odd_images"))


@pytest.fixture
def restore_signals():
    """main_wrapper installs SIGINT/SIGTERM handlers process-wide; put pytest's back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The CI end-to-end run: the README's first command, with no data options (bundled CIFAR-10 subset,
    scikit-image photos), so it is also the check that a fresh clone trains offline."""
    run = tmp_path_factory.mktemp("smoke") / "run"
    env_cifar = os.environ.pop("IRDI_CIFAR_DIR", None)
    try:
        proc = run_irdi("train", "--preset", "smoke", "--run-dir", run)
    finally:
        if env_cifar is not None:
            os.environ["IRDI_CIFAR_DIR"] = env_cifar
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the bundled CIFAR-10 subset" in proc.stdout
    return run, proc
