"""Helpers every benchmark script shares: machine description, random-weight stage models, a timer.

The scripts run as ``python bench/<name>.py``, so this directory is on ``sys.path`` and they import it
as ``_common``.
"""
import os
import platform
import time

import numpy as np


def machine_info() -> dict:
    """What a reader needs to judge a timing: cores, load at start, library versions."""
    import PIL
    import tensorflow as tf

    return {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "python": platform.python_version(), "tensorflow": tf.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__, "load_avg_at_start": os.getloadavg()}


def build_stages(preset_name: str, num_classes: int = 10, seed: int = 0) -> dict:
    """The six stages as random-weight models, with the widths training would use for this preset."""
    import keras

    from keras_irdi.degradations import get_degradation
    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net, build_weight_net
    from keras_irdi.presets import get_preset

    keras.utils.set_random_seed(seed)
    p = get_preset(preset_name)
    classifier = dict(num_classes=num_classes, filters=p.classifier_filters, dense_units=p.classifier_dense,
                      dropout=p.classifier_dropout)
    return {"restoration": build_restoration_net(p.restoration_filters),
            "estimator": build_level_estimator(p.estimator_filters),
            "weight_net": build_weight_net(unit=get_degradation("jpeg").unit, hidden=p.weight_hidden),
            **{name: build_classifier(name=name, **classifier) for name in ("cla_org", "cla_deg", "cla_res")}}


def timed(fn, *args):
    """(fn(*args), seconds)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start
