"""Plain helpers the test files share; fixtures live in conftest.py, hand-made inputs in sweep_csv.py and
odd_images.py. Import them as ``from helpers import ...`` (never from conftest, which pytest owns)."""
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The one builder of the six stages as random-weight models (tiny by default); the benchmarks use it too.
from keras_irdi.models.random_stages import random_stages  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, timeout=900):
    """Run one of the repository's CLI scripts the way a user does."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


def run_irdi(*args, timeout=900):
    """Run ``irdi SUB ...`` the way a user does (the installed command's function, in a fresh interpreter)."""
    code = "import sys; sys.argv[0] = 'irdi'; from keras_irdi.commands.irdi import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def paused_env(marker: Path, at: str = "2:3") -> dict:
    """The environment of a trainer that pauses once batch B of epoch E (``at="E:B"``, from 1) is done, writes
    ``marker`` and sleeps until killed: the test-only hook of keras_irdi/training/fitting.py (``_pause_point``)."""
    from keras_irdi.training.fitting import PAUSE_AT_ENV, PAUSE_MARKER_ENV

    return {**os.environ, PAUSE_AT_ENV: at, PAUSE_MARKER_ENV: str(marker)}


def wait_for_pause(marker: Path, procs, logs, timeout: float = 600) -> None:
    """Wait until a trainer started with ``paused_env(marker)`` has paused; fail, with the tail of each of
    ``logs`` (the children's stderr files), if a process ends first or ``timeout`` seconds pass. The caller
    kills the processes either way."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        ended = [p.returncode for p in procs if p.poll() is not None]
        if ended or time.monotonic() > deadline:
            why = f"a process ended (exit {ended})" if ended else f"no pause within {timeout:.0f} s"
            tails = "".join(f"\n--- {Path(f).name}:\n{Path(f).read_text()[-2000:]}" for f in logs if Path(f).exists())
            raise AssertionError(f"the trainer never paused at {marker.name}: {why}{tails}")
        time.sleep(0.05)


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


CLASSES = ("airplane", "automobile", "bird")  # write_folders' three classes


def write_folders(root, cifar_dir, n_train=60, n_test=20):
    """root/{train,test}/<class>/ from the bundled real CIFAR-10 images of three classes: PNGs, and every fifth
    training image a larger non-square JPEG (the loader must crop and resize it back to 32x32)."""
    from PIL import Image

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


def finished_run(path, stages, cifar_dir, warm_start: bool = True):
    """A smoke JPEG run whose six delivered stages (``stages``: e.g. ``random_stages``) are saved up to date,
    for tests of skipping, identity and training order; ``warm_start`` False: the preset trains no base."""
    from keras_irdi.presets import get_preset
    from keras_irdi.runs.config import RunConfig, RuntimeConfig
    from keras_irdi.runs.directory import RunDir
    from keras_irdi.runs.provenance import SCHEMA_VERSION
    from keras_irdi.stage_registry import delivered_stages
    from keras_irdi.training.stage_configs import expected_stage_config

    config = RunConfig(degradation="jpeg", preset=get_preset("smoke"), runtime=RuntimeConfig(data_dir=str(cifar_dir)))
    if not warm_start:
        config.preset.finetune = None
    run = RunDir(path)
    for stage in delivered_stages():
        run.save_stage(stage, stages[stage], expected_stage_config(config, stage), export=False)
    run.update_manifest(schema_version=SCHEMA_VERSION, config=config.to_dict(),
                        class_names=[f"c{i}" for i in range(10)], input_size=32)
    return run, config
