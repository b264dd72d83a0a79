"""Replacing published folders whole: a reader of ``results/<run>`` or ``models/<run>`` sees the previous
folder complete or the new one complete, never a mix of the two.

``evaluate/publish.py`` fills a hidden temporary sibling of each destination (``.<name>.publishing``) and
:func:`staged` swaps them in with renames when every one is complete: each old folder is moved aside
(``.<name>.previous``), the new one renamed into its place, then the old ones removed. An error or an
interrupt while filling removes the temporaries and leaves the old folders as they were; one during the swap
is held until the swap is done. A leftover of a killed publish (SIGKILL) is removed by the next one.
"""
from __future__ import annotations

import os
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from keras_irdi.errors import AccessError, ExistsError, InputError

STAGING, PREVIOUS = ".publishing", ".previous"


def _sibling(dest: Path, suffix: str) -> Path:
    return dest.with_name(f".{dest.name}{suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_destinations(run: Path | None, *destinations: Path) -> None:
    """Refuse, before any work, a destination that replacing whole would destroy: one that is not a published
    folder (a non-empty folder without manifest.json, or a file), the run itself, or one inside another."""
    resolved = [Path(d).resolve() for d in destinations]
    for dest, path in zip(destinations, resolved):
        if path.exists() and not path.is_dir():
            raise ExistsError(f"{dest} is a file; publish into a folder")
        if path.is_dir() and any(path.iterdir()) and not (path / "manifest.json").is_file():
            raise ExistsError(f"{dest} is not a published folder (no manifest.json) and publish replaces it whole: "
                              f"choose another folder, or remove it first")
        others = resolved + ([Path(run).resolve()] if run is not None else [])
        for other in others:
            if other is not path and (path == other or path.is_relative_to(other) or other.is_relative_to(path)):
                raise InputError(f"{dest} overlaps {other}: the run, --out and --models-out must be three separate "
                                 f"folders, none inside another")


@contextmanager
def _interrupts_held():
    """SIGINT/SIGTERM wait until the block ends, then raise KeyboardInterrupt (main thread only, where Python
    runs signal handlers; blocking the signal instead would miss one delivered to TensorFlow's threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    saved = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    if caught:
        raise KeyboardInterrupt


def _swap(destinations: list[Path], temporaries: list[Path]) -> None:
    """Rename every temporary into its destination, the old folders aside and then away; on an OSError put
    back what was swapped, so the old folders stay."""
    done = []
    try:
        for dest, temp in zip(destinations, temporaries):
            old, moved = _sibling(dest, PREVIOUS), dest.exists()
            _remove(old)
            if moved:
                os.rename(dest, old)
            try:
                os.rename(temp, dest)
            except OSError:
                if moved:
                    os.rename(old, dest)
                raise
            done.append((dest, temp, old, moved))
    except OSError as exc:
        for dest, temp, old, moved in reversed(done):
            os.rename(dest, temp)
            if moved:
                os.rename(old, dest)
        raise AccessError(f"cannot publish into {exc.filename}: {exc.strerror}; the previous folders are kept") \
            from exc
    for dest in destinations:
        _remove(_sibling(dest, PREVIOUS))


@contextmanager
def staged(*destinations):
    """Yield one empty temporary folder per destination, beside it; when the block ends without an error, swap
    each into its destination (any previous content goes). Otherwise remove them and keep the old folders."""
    destinations = [Path(d) for d in destinations]
    temporaries = [_sibling(d, STAGING) for d in destinations]
    try:
        for temp in temporaries:
            _remove(temp)  # a killed publish's
            temp.mkdir(parents=True)
    except OSError as exc:
        raise AccessError(f"cannot write beside {exc.filename}: {exc.strerror}") from exc
    try:
        yield temporaries
        with _interrupts_held():
            _swap(destinations, temporaries)
    finally:
        for temp in temporaries:
            shutil.rmtree(temp, ignore_errors=True)  # gone after a swap; what an error or interrupt left


def write_atomically(path: Path, text: str) -> Path:
    """Write a text file whole: a temporary beside it, renamed over it."""
    path = Path(path)
    temp = _sibling(path, STAGING)
    temp.write_text(text)
    os.replace(temp, path)
    return path
