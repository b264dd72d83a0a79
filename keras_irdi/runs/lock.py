"""One process at a time per run directory: an advisory lock on ``RUN/.lock``.

Two commands writing one run directory at once (two ``train/all.py``, a sweep during training) would
interleave stage folders and the manifest. Every command that writes a run takes the lock first
(``runs.open_run`` for the training commands, ``evaluation.run_sweep`` for the sweep); a second process
fails at once with one line naming the holder's pid, exit status 2.

The lock is ``fcntl.flock`` on an open file, so the kernel drops it when the holding process ends,
however it ends (SIGKILL, a crash, a power cut): a killed run never leaves a stuck lock behind. The file
holds the holder's pid and command only to say who holds it; a stale file without a lock means nothing.
A process takes the lock once and keeps it until it exits (reentrant: the sweep of ``train/all.py`` runs
in the process that already holds it).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from pathlib import Path

from keras_irdi.errors import UserError

LOCK_NAME = ".lock"
_HELD: dict = {}  # resolved run path -> open file object holding the lock (kept until the process exits)


class RunLockedError(UserError, BlockingIOError):
    """Another live process holds the run directory."""


def holder(path) -> str:
    """What the lock file says about its holder ("pid 123 (python train/all.py ...)"), or "unknown"."""
    try:
        text = (Path(path) / LOCK_NAME).read_text().strip()
    except OSError:
        return "unknown"
    return text.splitlines()[0][:200] if text else "unknown"


def lock_run(path) -> None:
    """Take the run directory's lock for the rest of this process, or raise RunLockedError (one line).

    The folder must exist. Taking it again in the same process is a no-op."""
    key = str(Path(path).resolve())
    if key in _HELD:
        return
    f = open(Path(path) / LOCK_NAME, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        f.close()
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise RunLockedError(f"run directory {path} is in use by {holder(path)}; wait for it to finish "
                             "(or stop it), or use another --run-dir") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} ({' '.join(sys.argv)[:150]})\n")
    f.flush()
    _HELD[key] = f


def unlock_run(path) -> None:
    """Release the lock early (tests; a library caller done with a run). Exiting releases it too."""
    f = _HELD.pop(str(Path(path).resolve()), None)
    if f is not None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


@contextlib.contextmanager
def holding_run(path):
    """The lock for the duration of a ``with`` block (the sweep); a no-op if this process holds it already."""
    if str(Path(path).resolve()) in _HELD:
        yield
        return
    lock_run(path)
    try:
        yield
    finally:
        unlock_run(path)
