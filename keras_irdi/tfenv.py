"""How every command-line tool loads TensorFlow: quietly, with oneDNN on, before anything else imports it.

TensorFlow prints C++ start-up lines on a CPU machine (``cudart_stub``, ``failed call to cuInit: ... CUDA
error``) before its own log level applies, and Keras warns about options a tf.data input ignores; a user
reads them as failures. Unless ``verbose``, TF's C++ log level is 3 (whatever ``TF_CPP_MIN_LOG_LEVEL``
says: the CLIs' knob is ``--verbose``), the import runs with file descriptor 2 pointed at /dev/null
(a Python exception raised by the import still reaches the user: stderr is restored first), TF's C++ log
keeps errors only from then on, and TF's Python logger keeps errors.

oneDNN: this TensorFlow build leaves its oneDNN CPU kernels off on CPUs without AVX-512; on the 2-core AMD
development machine they train the half-width classifier 1.4x faster (docs/DECISIONS.md). Set
``TF_ENABLE_ONEDNN_OPTS=0`` to opt out.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings


def load_tensorflow(verbose: bool = False):
    """Import TensorFlow and Keras once, quietly unless ``verbose``; returns the tensorflow module."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if verbose:
        import keras  # noqa: F401
        import tensorflow as tf
        return tf
    # Not setdefault: a TF_CPP_MIN_LOG_LEVEL of 0..2 left in the environment would let the C++ runtime print
    # "failed call to cuInit: ... CUDA error" on a CPU machine at the first op. --verbose keeps the user's.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")  # retracing notices and the like
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    return tf


class ArgumentParser(argparse.ArgumentParser):
    """The commands' parser: TensorFlow (about 5 s to import here) loads once the arguments parse, quietly
    unless ``--verbose``, so ``--help`` or a mistyped option answers at once."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        load_tensorflow(verbose=bool(getattr(parsed, "verbose", False)))
        return parsed
