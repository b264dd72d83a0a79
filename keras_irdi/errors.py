"""The errors a user can fix, and how every command-line tool reports them: one line, exit status 2.

The library raises these for expected mistakes (a bad option or level, a missing folder, run or stage, an
unwritable place). Each also derives from the matching built-in, so callers may catch ``ValueError`` or
``FileNotFoundError`` as before. Anything else that escapes a command is a bug and keeps its traceback
(:func:`main_wrapper` is the one boundary; every command-line tool runs through it).
"""
import logging
import signal
import sys
import warnings


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


def one_line(err) -> str:
    """An error message on one line: its first line, then the rest joined by '; '."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return " ".join(lines[:1] + ["; ".join(lines[1:])] if len(lines) > 1 else lines)


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

    TensorFlow is not loaded here but by the commands' parser (``keras_irdi.tfenv.ArgumentParser``),
    once the arguments are valid.
    """
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    verbose = "--verbose" in (sys.argv[1:] if argv is None else list(map(str, argv)))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Unless --verbose: the library's notes (INFO: "converted L image to 8-bit RGB") stay quiet, and each
    # Python warning is one line "warning: ...", printed once, without its source line.
    ours, level, show = logging.getLogger("keras_irdi"), logging.getLogger("keras_irdi").level, warnings.showwarning
    if not verbose:
        ours.setLevel(logging.WARNING)
        warnings.showwarning = _one_line_warning
    try:
        return fn(argv) or 0
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        ours.setLevel(level)
        warnings.showwarning = show


_WARNED: set = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning of the commands: ``warning: <message>`` on one line, each message once."""
    text = f"warning: {one_line(message)}"
    if text not in _WARNED:
        _WARNED.add(text)
        print(text, file=sys.stderr if file is None else file, flush=True)
