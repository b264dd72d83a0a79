"""Helpers every benchmark script shares: default paths, machine description, random-weight stage models, a
timer, and the one way a benchmark writes its JSON.

The scripts run as ``python bench/<name>.py``, so this directory is on ``sys.path`` and they import it
as ``_common``. The random-weight stages come from ``keras_irdi.models.random_stages``, the builder the tests
use too.
"""
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # keras_irdi from this clone, installed or not
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import, just below


from keras_irdi.models.random_stages import random_stages  # noqa: E402

# Defaults are absolute, so a benchmark run from any directory reads and writes where its README says.
RESULTS = REPO / "bench" / "results"
SHIPPED_JPEG_RUN = REPO / "models" / "small_v1_jpeg_cifar10"
SHIPPED_NOISE_RUN = REPO / "models" / "small_v1_gaussian_cifar10"
# The development data folder (clean photos: T91/, BSD100/, Urban100/ under clean/), beside the clone.
DATA = Path(os.environ.get("IRDI_DATA") or REPO.parent / "shared" / "data")


def machine_info() -> dict:
    """What a reader needs to judge a timing: the CPU (model and its bf16 flags), cores, load at start, library
    versions."""
    import PIL
    import tensorflow as tf

    from keras_irdi.models.precision import cpu_info

    return {**cpu_info(), "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "python": platform.python_version(), "tensorflow": tf.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__, "load_avg_at_start": os.getloadavg()}


def build_stages(preset_name: str, num_classes: int = 10, seed: int = 0) -> dict:
    """The six stages as random-weight models, with the widths training would use for this preset."""
    from keras_irdi.presets import get_preset

    p = get_preset(preset_name)
    return random_stages("jpeg", num_classes, seed, restoration_filters=p.restoration.filters,
                         estimator_filters=p.estimator.filters, weight_hidden=p.weight_net.hidden,
                         classifier_filters=p.classifier.filters, classifier_dense=p.classifier.dense,
                         classifier_dropout=p.classifier.dropout)


def timed(fn, *args):
    """(fn(*args), seconds)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def add_run_options(ap, name: str, repeats: int = 3, images: tuple[int, str] | None = None) -> None:
    """--repeats, --cifar-dir and --out (default bench/results/<name>), the options every timing benchmark shares;
    with ``images=(default, split)`` also --n, how many CIFAR-10 images of that split ``cifar_images`` reads."""
    if images:
        ap.add_argument("--n", type=int, default=images[0],
                        help=f"number of CIFAR-10 {images[1]} images (default {images[0]})")
    ap.add_argument("--repeats", type=int, default=repeats, help=f"timed passes (default {repeats})")
    ap.add_argument("--cifar-dir", default=os.environ.get("IRDI_CIFAR_DIR"),
                    help="local CIFAR-10 copy (default: env IRDI_CIFAR_DIR)")
    add_out_option(ap, name)


def add_out_option(ap, name: str) -> None:
    ap.add_argument("--out", default=str(RESULTS / name), help=f"output JSON (default bench/results/{name})")


def require_positive(ap, args, *names) -> None:
    """argparse's usage error unless every named option is >= 1."""
    if any(getattr(args, n) < 1 for n in names):
        ap.error(" and ".join(f"--{n.replace('_', '-')}" for n in names) + " must be >= 1")


def cifar_images(ap, args, split: str) -> dict:
    """``load_cifar``'s dict holding the first ``args.n`` CIFAR-10 images of ``split`` ("train" or "test") from
    ``args.cifar_dir``, or argparse's one-line usage error when the data is missing or has fewer images."""
    from keras_irdi.data.cifar import load_cifar

    try:
        data = load_cifar("cifar10", cifar_dir=args.cifar_dir, **{f"limit_{split}": args.n})
    except (ValueError, FileNotFoundError) as exc:
        ap.error(str(exc))
    if len(data[f"x_{split}"]) < args.n:
        ap.error(f"only {len(data[f'x_{split}'])} {split} images available, --n {args.n}")
    return data


def write_result(path, result: dict, info: dict, script: str, argv=None) -> None:
    """Write a benchmark's JSON atomically: its ``result``, then what every benchmark records to judge it by,
    the machine (``info``, with the load average now, at the end), the command as typed and the date.
    ``script`` is the benchmark's ``__file__`` and ``argv`` the options its ``main`` was given (None: the
    command line), so the recorded command is right when a test calls ``main`` too."""
    from keras_irdi.json_files import write_json

    options = sys.argv[1:] if argv is None else [str(a) for a in argv]
    write_json(path, {**result, "machine": {**info, "load_avg_at_end": os.getloadavg()},
                      "command": shlex.join(["python", f"bench/{Path(script).name}", *options]),
                      "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
