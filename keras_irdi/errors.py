"""The errors a user can fix, and how every command-line tool reports them: one line, exit status 2.

The library raises these for expected mistakes (a bad option or level, a missing folder, run or stage, an
unwritable place). Each also derives from the matching built-in, so callers may catch ``ValueError`` or
``FileNotFoundError`` as before. Anything else that escapes a command is a bug and keeps its traceback
(:func:`keras_irdi.cli.main_wrapper` is the one boundary).
"""


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
