"""The errors a user can fix, and how every command-line tool reports them: one line, exit status 2.

The library raises these for expected mistakes (a bad option or level, a missing folder, run or stage, an
unwritable place). Each also derives from the matching built-in, so callers may catch ``ValueError`` or
``FileNotFoundError`` as before. Anything else that escapes a command is a bug and keeps its traceback
(:func:`main_wrapper` is the one boundary; every command-line tool runs through it).

A full disk is the user's to fix too, wherever it is met (a Python write, h5py, TensorFlow's C++ writers):
:func:`no_space` is its one message, ``no space left on DEVICE: free N MB and rerun``.
"""
import contextlib
import errno
import logging
import math
import os
import re
import signal
import sys
import warnings
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix; the message says how."""


class InputError(UserError, ValueError):
    """A bad option value, level, preset choice or input file content."""


class MissingError(UserError, FileNotFoundError):
    """A file, folder, dataset, run directory or stage that is not there."""


class AccessError(UserError, PermissionError):
    """A place that cannot be written."""


class ExistsError(UserError, FileExistsError):
    """A destination that already exists and must not be overwritten."""


class DiskFullError(UserError, OSError):
    """No space left (or the disk quota reached) where a file was being written; the message says how much
    to free. Whatever was being written is not left half-written under its final name."""

    def __init__(self, message: str, code: int = errno.ENOSPC):
        super().__init__(message)
        self.errno = code  # still a full disk to whatever wrote a larger whole around this file


_FULL = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded"}


def mount_point(path) -> Path:
    """The mount point holding ``path`` (which need not exist yet): the device a user frees space on."""
    path = Path(os.path.realpath(path))
    while not os.path.ismount(path):
        path = path.parent
    return path


def free_bytes(path) -> int:
    """Bytes that can still be written at ``path`` (or its nearest existing parent). Root may also use the
    blocks a file system reserves for it, so root is not refused space its writes would get."""
    path = Path(os.path.realpath(path))
    while not path.exists():
        path = path.parent
    st = os.statvfs(path)
    return st.f_frsize * (st.f_bfree if os.geteuid() == 0 else st.f_bavail)


def no_space(path, missing_bytes: int | None = None, code: int = errno.ENOSPC, writing=None) -> str:
    """The one message for a full disk: ``no space left on MOUNT (writing FILE): free N MB and rerun``
    (N rounded up; "some space" when what is missing is not known)."""
    amount = "some space" if missing_bytes is None else f"{max(1, math.ceil(missing_bytes / 1e6))} MB"
    shown = "" if writing is None else f" (writing {writing})"
    return f"{_FULL.get(code, _FULL[errno.ENOSPC])} on {mount_point(path)}{shown}: free {amount} and rerun"


def disk_full_code(exc) -> int | None:
    """ENOSPC or EDQUOT if ``exc`` (or what it was raised from) is a full disk, else None.

    Python and h5py raise OSError with the errno; TensorFlow's writers raise ResourceExhaustedError with
    the C library's text (``PATH; No space left on device``). Out of memory is also ResourceExhaustedError
    (``OOM when allocating tensor``): only the text tells them apart, and it is not a disk error."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return exc.errno
        if isinstance(exc, OSError) or any(c.__name__ == "ResourceExhaustedError" for c in type(exc).__mro__):
            for code in _FULL:
                if os.strerror(code) in str(exc):
                    return code
        exc = exc.__cause__
    return None


def ensure_space(path, needed_bytes: int, writing=None) -> None:
    """DiskFullError unless ``needed_bytes`` fit at ``path``: checked before a writer that cannot survive a
    full disk (h5py's half-written file crashes the interpreter at exit) ever meets one."""
    free = free_bytes(path)
    if needed_bytes > free:
        raise DiskFullError(no_space(path, needed_bytes - free, writing=writing))


@contextlib.contextmanager
def full_disk_is_user_error(path, needed_bytes: int | None = None, writing=None):
    """A full disk met in the block becomes DiskFullError: free what ``needed_bytes`` lacks once the block
    has cleaned up after itself (its temporary files removed). The outermost block that knows what it needs
    names the whole it was writing (a stage, not the stage's config.json). Any other error passes unchanged."""
    try:
        yield
    except Exception as exc:
        code = disk_full_code(exc)
        if code is None or (isinstance(exc, DiskFullError) and needed_bytes is None):
            raise
        missing = None if needed_bytes is None else max(1, needed_bytes - free_bytes(path))
        raise DiskFullError(no_space(path, missing, code, writing), code) from None


def one_line(err) -> str:
    """An error message on one line: its first line, then the rest joined by '; '."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return " ".join(lines[:1] + ["; ".join(lines[1:])] if len(lines) > 1 else lines)


def printable(text) -> str:
    """``text`` (a file name, or a line that holds one) safe to print on a strict UTF-8 stream: the bytes of a
    name that is not UTF-8 (which ``os.fsdecode`` keeps as lone surrogates) shown as ``\\xNN`` escapes."""
    text = str(text)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main_wrapper(fn, argv=None, interrupted: str = "interrupted: rerun the same command to resume from "
                                                     "the last completed epoch") -> int:
    """The one error boundary of every command: run ``fn(argv)`` and return its exit status.

    A :class:`keras_irdi.errors.UserError` becomes one line ``error: ...`` on stderr and exit status 2;
    any other exception is a bug and keeps its traceback.

    SIGINT and SIGTERM (also in background jobs, where a shell ignores SIGINT) stop the job the same
    way: stage artefacts are written atomically and BackupAndRestore keeps the last finished epoch, so
    rerunning the command resumes.

    A full disk is the user's to fix wherever it is met: one line (:func:`no_space`), exit status 2.
    Temporary files (Autograph's generated modules among them) go to a folder of this command's own,
    removed when it ends (``keras_irdi.tfenv.private_tempdir``).

    TensorFlow is not loaded here but by the commands' parser (``keras_irdi.tfenv.ArgumentParser``),
    once the arguments are valid.
    """
    from keras_irdi.tfenv import private_tempdir

    handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    verbose = "--verbose" in (sys.argv[1:] if argv is None else list(map(str, argv)))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Unless --verbose: the library's notes (INFO: "converted L image to 8-bit RGB") stay quiet, and each
    # Python warning is one line "warning: ...", printed once, without its source line.
    ours, level, show = logging.getLogger("keras_irdi"), logging.getLogger("keras_irdi").level, warnings.showwarning
    if not verbose:
        ours.setLevel(logging.WARNING)
        warnings.showwarning = _one_line_warning
    try:
        with private_tempdir():
            return fn(argv) or 0
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {printable(one_line(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:
        code = disk_full_code(exc)
        if code is None:
            raise
        print(f"error: {no_space(_path_in(exc), code=code)}", file=sys.stderr)
        return 2
    finally:
        ours.setLevel(level)
        warnings.showwarning = show
        for sig, handler in handlers.items():  # the caller's again (a test runner, a script calling main)
            if handler is not None:  # None: a handler not installed from Python, which cannot be put back
                signal.signal(sig, handler)


def _path_in(exc) -> str:
    """The file a full-disk error no site of ours named was writing (OSError's filename, TensorFlow's
    ``PATH; No space left on device``), else the working folder: either shows the device."""
    found = re.search(r"(/[^\s;]+); ", str(exc))
    return getattr(exc, "filename", None) or (found.group(1) if found else os.getcwd())


_WARNED: set = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning of the commands: ``warning: <message>`` on one line, each message once."""
    text = f"warning: {printable(one_line(message))}"
    if text not in _WARNED:
        _WARNED.add(text)
        print(text, file=sys.stderr if file is None else file, flush=True)
