"""Plain helpers the test files share; fixtures live in conftest.py, hand-made inputs in sweep_csv.py and
odd_images.py. Import them as ``from helpers import ...`` (never from conftest, which pytest owns)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, timeout=900):
    """Run one of the repository's CLI scripts the way a user does."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


def _bench_common():
    """bench/_common.py, loaded by path: the benchmarks run as scripts, so bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_common", REPO / "bench" / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The one builder of the six stages as random-weight models (tiny by default); the benchmarks use it too.
random_stages = _bench_common().random_stages


def steep_stages(degradation="jpeg", level_bias=None) -> dict:
    """Tiny stages whose weight net really responds to the level (its kernels scaled x20), optionally with
    the estimator forced to output ``level_bias`` whatever the image: for the numerical-safety tests."""
    stages = random_stages(degradation, seed=5, weight_hidden=(8, 8), classifier_filters=(4, 4, 4),
                           classifier_dense=4, classifier_dropout=0.0)
    for layer in stages["weight_net"].layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(np.asarray(layer.kernel) * 20)
    if level_bias is not None:
        last = stages["estimator"].get_layer("est_conv7")
        last.kernel.assign(np.zeros(last.kernel.shape))
        last.bias.assign(np.full(last.bias.shape, level_bias))
    return stages


def tiny_model():
    """A one-layer stand-in for a stage, where only saving, loading and resuming are under test."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")
