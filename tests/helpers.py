"""Plain helpers the test files share; fixtures live in conftest.py, hand-made inputs in sweep_csv.py and
odd_images.py. Import them as ``from helpers import ...`` (never from conftest, which pytest owns)."""
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np

# The one builder of the six stages as random-weight models (tiny by default); the benchmarks use it too.
from keras_irdi.models.random_stages import random_stages  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, timeout=900):
    """Run one of the repository's CLI scripts the way a user does."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


def call_cli(script, *args) -> int:
    """Run one of the repository's CLI scripts in this process, through its ``main`` and the error boundary
    (``main_wrapper``) as ``python script`` does, and return the exit status; read stderr with ``capsys``.
    For option and error checks: no interpreter or TensorFlow start-up. Use with the ``restore_signals``
    fixture (main_wrapper installs signal handlers)."""
    from keras_irdi.errors import main_wrapper

    main = runpy.run_path(str(REPO / script))["main"]
    try:
        return main_wrapper(main, [str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        return exc.code


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
