"""How a user error reads: one line.

Library errors may carry several lines (MissingStageError lists one command per missing stage); every
command-line tool prints them through :func:`one_line`, so a user mistake is always ``error: ...`` on one line.
"""


def one_line(err) -> str:
    """An error message on one line: its first line, then the rest joined by '; '."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return " ".join(lines[:1] + ["; ".join(lines[1:])] if len(lines) > 1 else lines)
