"""The JSON files of a run (manifest, stage configs, identities): strict, atomic, readable by everyone; and
the one atomic file write every artefact of a run goes through (JSON, sweep CSVs, tables, figures)."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from keras_irdi.errors import InputError, full_disk_is_user_error


def _strict(value):
    """Non-finite floats -> None: Python would write ``Infinity``/``NaN``, which strict JSON readers
    (jq, JavaScript, most other languages) reject. A PSNR of identical images is undefined, written null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _plain(value):
    """json.dumps fallback: numpy scalars and arrays as Python numbers/lists (so NaN/inf among them are
    nulled too); anything else (paths, dtypes) as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def as_json(data):
    """``data`` as it reads back from a JSON file written by :func:`write_json`: the one normalisation used
    both to write artefacts and to compare a stage's config with the one on disk."""
    return _strict(json.loads(json.dumps(data, default=_plain)))


def write_json(path: Path, data) -> None:
    """Atomic, strict JSON write (:func:`write_atomic`); non-finite numbers are written as null."""
    write_atomic(path, json.dumps(as_json(data), indent=2, sort_keys=False, allow_nan=False))


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all: into a temporary file beside it, then renamed, so a
    killed process never leaves half a file under the name. A full disk is a DiskFullError that says how
    much the file lacks; the temporary file is removed either way."""
    path = Path(path)
    data = data.encode() if isinstance(data, str) else data
    with full_disk_is_user_error(path.parent, len(data), writing=path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the artefact from everyone else
            with open(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise InputError(f"{path} is corrupt ({exc}); restore it or start a new --run-dir") from None
