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

Temporary files: Autograph writes each function it converts to ``__autograph_generated_file*.py`` in
``tempfile.gettempdir()`` and removes it only at a normal interpreter exit (atexit), so a killed or crashed
command left them in /tmp. Every command points ``tempfile`` at a folder of its own (``private_tempdir``).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import warnings

TEMP_PREFIX = "keras_irdi-"  # <system temp>/keras_irdi-<pid>-<random>/: one command's temporary files


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


_PROG = None  # "irdi train" while the irdi command runs its train subcommand: what usage lines name


@contextlib.contextmanager
def command_name(prog: str):
    """Parsers made in the block name the command ``prog`` in their usage and --help (``irdi SUB``)."""
    global _PROG
    saved, _PROG = _PROG, prog
    try:
        yield
    finally:
        _PROG = saved


def prog_name(default: str | None = None) -> str | None:
    """The command name a parser shows: the running ``irdi`` subcommand's, else ``default`` (None: the script's)."""
    return _PROG or default


class ArgumentParser(argparse.ArgumentParser):
    """The commands' parser: TensorFlow (about 5 s to import here) loads once the arguments parse, quietly
    unless ``--verbose``, so ``--help`` or a mistyped option answers at once."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prog", prog_name())
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        load_tensorflow(verbose=bool(getattr(parsed, "verbose", False)))
        return parsed


MAX_SEED = 2 ** 31 - 1  # Keras's set_random_seed and NumPy refuse negatives; stages derive seed + k from it


def seed_argument(text: str) -> int:
    """argparse type of --seed: a bad one fails in parsing, before a run directory records it."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number in 0..{MAX_SEED}, got {text!r}")
    return value


@contextlib.contextmanager
def private_tempdir():
    """Point ``tempfile`` (Autograph's generated modules, Keras' scratch files) at a new folder of this
    process's own for the block, and remove it afterwards, also when the block fails or is interrupted.
    Folders a killed process left behind (SIGKILL, a crash: no ``finally`` ran) are removed first."""
    base = tempfile.gettempdir()
    _remove_orphans(base)
    folder, saved = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=base), tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(folder, ignore_errors=True)


def _remove_orphans(base: str) -> None:
    """Remove the ``TEMP_PREFIX<pid>-*`` folders in ``base`` whose process is gone."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            pid = entry.name[len(TEMP_PREFIX):].split("-", 1)[0]
            if not (entry.name.startswith(TEMP_PREFIX) and pid.isdigit()) or _alive(int(pid)):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
