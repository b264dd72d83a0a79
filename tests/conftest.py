"""Shared fixtures. Real data comes from the shared folder (never copied into the repo): `$IRDI_DATA`, else
`../shared/data` next to the repository; tests that need it are skipped when it is absent."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("IRDI_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """The real CIFAR-10 copy, unpacked once per session into the official python layout."""
    unpack = SHARED_DATA / "cifar10" / "unpack.py"
    if not unpack.is_file():
        pytest.skip(f"real CIFAR-10 not available ({unpack} missing; set IRDI_DATA to the shared data folder)")
    dest = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(unpack), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def clean_dir():
    """The T91 clean photographs (Yang91 in the paper)."""
    folder = SHARED_DATA / "clean" / "T91"
    if not folder.is_dir():
        pytest.skip(f"clean images not available ({folder} missing; set IRDI_DATA to the shared data folder)")
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
def smoke_run(tmp_path_factory, cifar_dir, clean_dir):
    """The CI end-to-end run: the exact command of the README's smoke example, on real data."""
    run = tmp_path_factory.mktemp("smoke") / "run"
    proc = run_script("train/all.py", "--preset", "smoke", "--degradation", "jpeg", "--dataset", "cifar10",
               "--run-dir", run, "--cifar-dir", cifar_dir, "--clean-dir", clean_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, proc


