"""A stage's identity: is ``RUN/<stage>/model.keras`` the model this stage saved, built on the stages that are
in the run now?

``RunDir.save_stage`` writes ``RUN/<stage>/identity.json`` beside the model::

    {"stage": "weight_net", "token": "<random id of this training>", "model_sha256": "<the file's sha256>",
     "model_name": "weight_net", "inputs": {"cla_res": "<token of the Cla(res) it was trained on>", ...}}

The inputs are the stages its config lists (``input_<stage>`` keys of ``training.expected_stage_config``).
:func:`stage_problem` checks it whenever a stage is required, loaded or considered up to date, and returns
one line saying what is wrong, or None:

- ``model.keras`` is not a Keras archive (damaged, or garbage copied over it);
- it holds another stage's model (its name is another stage's), or it is not the file saved with this
  identity (its sha256 differs: replaced by hand);
- ``config.json`` names another stage;
- a stage it was trained on has been retrained since (its token changed): e.g. the weight net trained on an
  older Cla(res). Retraining the stage fixes it;
- ``config.json`` is another run's: its degradation, dataset or seed is not the one the run's manifest
  records (a Gaussian run's ``restoration/`` copied into a JPEG run).

A stage without ``identity.json`` was not saved by ``save_stage`` whole, and is refused as well.
:func:`gate_problem` checks the restoration stage's ``quality_gate.json`` where it is read
(``RunDir.quality_gate``).
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from pathlib import Path

from keras_irdi.json_files import write_json

IDENTITY = "identity.json"
RUN_KEYS = ("degradation", "dataset", "seed")  # what a stage's config.json and the run's manifest config share
_DIGESTS: dict = {}  # (path, size, mtime_ns) -> sha256, so repeated checks hash each file once


def file_sha256(path) -> str:
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def archived_model_name(path) -> str:
    """The model's name inside a ``.keras`` archive (read from its config.json, nothing is built).

    ValueError if the file is not a Keras archive."""
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            if "model.weights.h5" not in z.namelist():
                raise KeyError("model.weights.h5")
        return str(config.get("config", {}).get("name") or config.get("name") or "")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError) as err:
        raise ValueError(f"not a Keras model archive ({type(err).__name__}: {err})"[:160]) from None


def read_identity(stage_dir) -> dict | None:
    try:
        return json.loads((Path(stage_dir) / IDENTITY).read_text())
    except (OSError, ValueError):
        return None


def write_identity(run, stage: str, stage_dir, config: dict) -> None:
    """``stage_dir/identity.json`` for the model just saved there (trained on the run's current inputs)."""
    inputs = {}
    for key in config or {}:
        if key.startswith("input_"):
            upstream = read_identity(run.stage_dir(key[len("input_"):]))
            inputs[key[len("input_"):]] = upstream.get("token") if upstream else None
    model = Path(stage_dir) / "model.keras"
    write_json(Path(stage_dir) / IDENTITY, {
        "stage": stage, "token": uuid.uuid4().hex, "model_sha256": file_sha256(model),
        "model_name": archived_model_name(model), "inputs": inputs})


def stage_problem(run, stage: str) -> str | None:
    """One line saying why ``RUN/<stage>`` is not the stage it claims to be, or None (see the module doc)."""
    d = run.stage_dir(stage)
    model = d / "model.keras"
    try:
        name = archived_model_name(model)
    except ValueError as err:
        return f"{model} is damaged ({err})"
    try:
        config = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return f"{d / 'config.json'} is damaged"
    if isinstance(config, dict) and config.get("stage") not in (None, stage):
        return f"{d / 'config.json'} is the config of stage {config['stage']}, not {stage}"
    run_config = run.manifest().get("config") or {}
    for key in RUN_KEYS:
        if isinstance(config, dict) and key in config and key in run_config and config[key] != run_config[key]:
            return (f"{d} is another run's {stage} stage ({key} {config[key]!r}, this run's is {run_config[key]!r}): "
                    "copied in from elsewhere")
    identity = read_identity(d)
    if identity is None:
        return f"{d} has no {IDENTITY}: it was not saved whole"
    if identity.get("model_sha256") != file_sha256(model):
        other = f" (it holds the model of stage {name})" if name != identity.get("model_name") else ""
        return f"{model} is not the model this stage saved{other}: it was replaced or damaged since"
    for upstream, token in (identity.get("inputs") or {}).items():
        current = read_identity(run.stage_dir(upstream))
        if token is not None and current is not None and current.get("token") != token:
            return f"{stage} is stale: it was trained on an older {upstream} ({upstream} has been retrained since)"
    return None


def gate_problem(path, required: bool) -> str | None:
    """Why the quality gate ``path`` (``{"<JPEG quality>": share of the residual}``) cannot be applied, or None:
    missing where the run's preset has a gate (``required``), not JSON, a quality that is not an integer
    1..100, or a share that is not a number in [0, 1] (NaN included). A gate that is not required and absent
    is None: the run has none."""
    path = Path(path)
    if not path.is_file():
        return f"{path} is missing (this run's preset fits a quality gate)" if required else None
    try:
        gate = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"{path} is damaged (not JSON)"
    if not isinstance(gate, dict):
        return f"{path} is not a table {{JPEG quality: share of the residual}}"
    for quality, share in gate.items():
        if not (quality.isascii() and quality.isdigit() and 1 <= int(quality) <= 100):
            return f"{path} has the quality {quality!r}: qualities are the integers 1..100"
        # NaN fails every comparison: refused with the out-of-range shares
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            return f"{path} gives quality {quality} the share {share!r}: shares are numbers in [0, 1]"
    return None
