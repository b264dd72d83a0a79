"""Helpers every benchmark script shares: machine description, random-weight stage models, a timer.

The scripts run as ``python bench/<name>.py``, so this directory is on ``sys.path`` and they import it
as ``_common``. The random-weight stages come from ``keras_irdi.models.random_stages``, the builder the tests
use too.
"""
import os
import platform
import time

import numpy as np

from keras_irdi.models.random_stages import random_stages


def machine_info() -> dict:
    """What a reader needs to judge a timing: cores, load at start, library versions."""
    import PIL
    import tensorflow as tf

    return {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
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


def add_run_options(ap, out: str, repeats: int = 3) -> None:
    """--repeats, --cifar-dir and --out, the options every timing benchmark shares."""
    ap.add_argument("--repeats", type=int, default=repeats, help=f"timed passes (default {repeats})")
    ap.add_argument("--cifar-dir", default=os.environ.get("IRDI_CIFAR_DIR"),
                    help="local CIFAR-10 copy (default: env IRDI_CIFAR_DIR)")
    ap.add_argument("--out", default=out, help="output JSON (default %(default)s)")


def require_positive(ap, args, *names) -> None:
    """argparse's usage error unless every named option is >= 1."""
    if any(getattr(args, n) < 1 for n in names):
        ap.error(" and ".join(f"--{n.replace('_', '-')}" for n in names) + " must be >= 1")
