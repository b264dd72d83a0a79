"""The JSON files of a run (manifest, stage configs, identities): strict, atomic, readable by everyone."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from keras_irdi.errors import InputError


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
    """Atomic, strict JSON write (temp file + rename): a killed process never leaves half a file, and
    non-finite numbers are written as null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the artefact from everyone else
        with os.fdopen(fd, "w") as f:
            json.dump(as_json(data), f, indent=2, sort_keys=False, allow_nan=False)
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
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is corrupt ({exc}); restore it or start a new --run-dir") from None
