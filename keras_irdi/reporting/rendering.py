"""Markdown and CSV rendering of result tables: a :class:`Table` is a title, a header, rows of raw values
and one format per column.

Missing values (None, NaN) are "n/a" in Markdown and empty cells in CSV, so a partial sweep renders instead
of raising. CSV keeps full precision; only Markdown rounds.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from keras_irdi.json_files import write_atomic


def _signed(decimals: int):
    """Signed number with ``decimals`` places, never "-0.000" (a difference that rounds to zero is "+0.000")."""
    def fmt(value) -> str:
        text = f"{float(value):+.{decimals}f}"
        return "+" + text[1:] if float(text) == 0 else text
    return fmt


ACC = "{:.3f}"
DIFF = _signed(3)
DB = "{:.2f}"
DB_DIFF = _signed(2)
LEVEL = "{:g}"


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


def format_cell(value, fmt: str | Callable | None = None) -> str:
    """Markdown text of one cell: missing -> "n/a", bool -> yes/no, numbers via ``fmt`` (default 3 dp)."""
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value.replace("|", "\\|")
    if callable(fmt):
        return fmt(value)
    if fmt is not None:
        return fmt.format(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return ACC.format(float(value))


def to_markdown(rows, header, formats=None) -> str:
    """A GitHub-flavoured Markdown table; ``formats`` is one format string (or None) per column."""
    formats = list(formats) if formats is not None else [None] * len(header)
    if len(formats) != len(header):
        raise ValueError(f"{len(formats)} formats for {len(header)} columns")
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header {len(header)}: {row!r}")
    numeric = [formats[i] is not None or
               any(isinstance(r[i], (int, float, np.number)) and not isinstance(r[i], bool) for r in rows)
               for i in range(len(header))]
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(v, f) for v, f in zip(row, formats)) + " |")
    return "\n".join(lines) + "\n"


def _csv_cell(value):
    if _is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def to_csv(rows, header, path=None) -> str:
    """CSV text with full-precision numbers and empty cells for missing values; written to ``path`` if given
    (whole or not at all)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    text = buf.getvalue()
    if path is not None:
        write_atomic(path, text)
    return text


@dataclass
class Table:
    title: str
    header: list
    rows: list
    formats: list
    notes: list = field(default_factory=list)

    def to_markdown(self, level: int = 3) -> str:
        parts = [f"{'#' * level} {self.title}\n", to_markdown(self.rows, self.header, self.formats)]
        if self.notes:
            parts.append("\n" + "\n".join(f"- {n}" for n in self.notes) + "\n")
        return "\n".join(parts)

    def to_csv(self, path=None) -> str:
        return to_csv(self.rows, self.header, path)
