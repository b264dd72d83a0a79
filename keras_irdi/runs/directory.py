"""The run directory: one folder per run holding every stage's models, logs and the manifest.

Layout::

    RUN/manifest.json                  preset, resolved config, versions, data hash, per-stage timings/metrics
    RUN/<stage>/model.keras            the trained Keras model
    RUN/<stage>/savedmodel/            the same model as a TF SavedModel (model.export)
    RUN/<stage>/config.json            the stage's config (what `irdi train` compares to skip a stage)
    RUN/restoration/quality_gate.json  the share of the residual to apply per JPEG quality (gated presets)
    RUN/logs/<stage>.csv, logs/tb/     Keras CSV and TensorBoard logs
    RUN/backup/<stage>/                BackupAndRestore state while a stage is training
    RUN/eval/, RUN/tables/, RUN/figures/

A stage is written into ``<stage>.tmp`` and renamed into place only when complete, so an interrupted
save is never mistaken for a finished stage.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path


import keras
import numpy as np

from keras_irdi.errors import AccessError, InputError, MissingError, full_disk_is_user_error
from keras_irdi.json_files import as_json, read_json, write_json  # noqa: F401  (importers use them from here)
from keras_irdi.runs.provenance import SCHEMA_VERSION
from keras_irdi.runs.stage_identity import gate_problem, stage_problem, write_identity
from keras_irdi.stage_registry import get_stage

MERGED = ("stages", "eval", "data")  # manifest fields written piece by piece (update_manifest)
QUALITY_GATE_FILE = "quality_gate.json"  # RUN/restoration/: the gate of a JPEG restoration net (preset_sections.py)


GRAPH_BYTES = 1 << 20  # allowance for a SavedModel's graph (saved_model.pb: 30-120 kB for the smoke stages)
# Free space a per-epoch checkpoint needs beyond its tensors: its file's own structures (h5py: ~20 kB for a
# two-layer net), the epoch's CSV row and TensorBoard events.
CHECKPOINT_SLACK = 1 << 18


def weight_bytes(model) -> int:
    """Bytes of the model's weights."""
    return _nbytes(model.weights)


def state_bytes(model) -> int:
    """Bytes of the model's weights and its optimizer's state: about what model.keras or a checkpoint holds."""
    optimizer = getattr(model, "optimizer", None)
    return _nbytes(model.weights) + (_nbytes(optimizer.variables) if optimizer is not None and optimizer.built else 0)


def _nbytes(variables) -> int:
    return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)


class MissingStageError(MissingError):
    """A stage's artefact is not in the run directory; the message names the command to run."""


class StaleStageError(InputError):
    """A stage's artefact is damaged, foreign or trained on stages retrained since (stage_identity.py)."""


class RunDir:
    # Whether this process writes the run: always, but in a multi-worker cluster only its chief does
    # (``runs.cluster.ClusterRunDir``); the stages, the sweep and the lock ask here.
    chief = True

    def __init__(self, path):
        self.path = Path(path)

    # -- layout -------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def log_dir(self) -> Path:
        return self.path / "logs"

    def backup_dir(self, stage: str) -> Path:
        return self.path / "backup" / stage

    def ensure_writable(self) -> None:
        """Fail before any training if the run directory cannot be written (read-only, disk full)."""
        if self.path.exists() and not self.path.is_dir():
            raise AccessError(f"run directory {self.path} is a file, not a folder; choose another --run-dir")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write_probe.{os.getpid()}"  # per process: two starts at once must not race
            with open(probe, "wb") as f:
                f.write(b"x" * 1024 * 1024)  # 1 MiB: catches an almost-full disk too
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as exc:
            raise AccessError(f"run directory {self.path} is not writable ({exc.strerror or exc}); "
                                  "choose another --run-dir or free disk space") from None

    # -- manifest -----------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The run's manifest ({} for a new run); a run written in another layout is refused with one line."""
        data = read_json(self.manifest_path) if self.manifest_path.exists() else {}
        if not isinstance(data, dict):
            raise InputError(f"{self.manifest_path} is corrupt (not a JSON object); "
                             "restore it or start a new --run-dir")
        if "config" in data and data.get("schema_version") != SCHEMA_VERSION:
            found = data.get("schema_version")
            written = "before 1.0" if found is None else f"with run schema {found}"
            raise InputError(f"{self.path} was written by keras-irdi {written}"
                             f"; this version reads run schema {SCHEMA_VERSION}: train it again into a new --run-dir "
                             "(keras-irdi 0.1.0 reads the old one)")
        return data

    def update_manifest(self, **fields) -> dict:
        """Replace the given top-level fields; ``MERGED`` fields hold one entry per stage, sweep or data
        source, and only the entries given are replaced."""
        data = self.manifest()
        for key, value in fields.items():
            if key in MERGED and isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key].update(value)
            else:
                data[key] = value
        write_json(self.manifest_path, data)
        return data

    # -- stages -------------------------------------------------------------------------------
    def has_stage(self, stage: str, config: dict | None = None) -> bool:
        """True if the stage is complete (and, when given, was trained with this config)."""
        d = self.stage_dir(stage)
        if not (d / "model.keras").exists() or not (d / "config.json").exists():
            return False
        if self.stage_problem(stage):
            return False
        if config is None:
            return True
        expected = as_json(config)
        return as_json(read_json(d / "config.json")) == expected

    def save_stage(self, stage: str, model: keras.Model, config: dict, export: bool = True,
                   extra_json: dict | None = None) -> Path:
        """Write model.keras, a SavedModel, config.json (and ``{file name: data}`` JSON files that belong to the
        stage) into a temp dir, then rename into place. Whatever stops the save (a full disk: DiskFullError,
        also when TensorFlow's writer met it; Ctrl-C) removes the temp dir, and finished stages stay."""
        final = self.stage_dir(stage)
        tmp = self.path / f"{stage}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        # model.keras holds the weights and the optimizer's state; the SavedModel the weights again and a graph.
        needed = state_bytes(model) + (weight_bytes(model) + GRAPH_BYTES if export else 0)
        with full_disk_is_user_error(self.path, needed, writing=tmp):
            try:
                tmp.mkdir(parents=True)
                model.save(tmp / "model.keras")
                if export:
                    model.export(str(tmp / "savedmodel"), format="tf_saved_model", verbose=False)
                write_json(tmp / "config.json", config)
                for name, data in (extra_json or {}).items():
                    write_json(tmp / name, data)
                write_identity(self, stage, tmp, config)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        old = self.path / f"{stage}.old"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def stage_problem(self, stage: str) -> str | None:
        """Why the complete-looking ``RUN/<stage>`` is not that stage (damaged, foreign, stale), or None."""
        return stage_problem(self, stage)

    def require(self, *stages: str) -> None:
        needed = ("model.keras", "config.json")
        missing = [s for s in stages if not all((self.stage_dir(s) / f).exists() for f in needed)]
        if missing:
            cmds = "\n  ".join(get_stage(s).command(self.path) for s in missing)
            raise MissingStageError(f"stage(s) {', '.join(missing)} not trained in {self.path}; run first:\n  {cmds}")
        for s in stages:
            problem = self.stage_problem(s)
            if problem:
                raise StaleStageError(f"{problem}; retrain it: {get_stage(s).command(self.path)} "
                                      f"(or irdi train --run-dir {self.path}, which retrains what is stale)")

    def load_stage(self, stage: str) -> keras.Model:
        self.require(stage)
        # Composites' mixing layers and the patch nets' DilatedConv2D are registered on import.
        import keras_irdi.models.composites  # noqa: F401
        from keras_irdi.errors import one_line

        path = self.stage_dir(stage) / "model.keras"
        try:
            model = keras.models.load_model(path, compile=False)
        except (OSError, ValueError) as err:  # e.g. a truncated copy: retraining the stage fixes it
            raise InputError(f"{path} is damaged ({one_line(err)[:200]}); retrain it: "
                             + get_stage(stage).command(self.path)) from None
        return model

    def quality_gate(self) -> dict | None:
        """The restoration stage's {JPEG quality: share of the residual}, None if it was trained without one.

        Read only where the gate is applied (irdi-restore, the export's ``restore`` signature): StaleStageError,
        one line naming the file and the command that retrains the stage, if the run's preset fits a gate and the
        file is missing, or the file breaks the schema (``stage_identity.gate_problem``)."""
        path = self.stage_dir("restoration") / QUALITY_GATE_FILE
        problem = gate_problem(path, self._has_gate())
        if problem:
            raise StaleStageError(f"{problem}; retrain the stage: "
                                  + get_stage("restoration").command(self.path))
        return {int(q): float(a) for q, a in read_json(path).items()} if path.is_file() else None

    def _has_gate(self) -> bool:
        """Whether the run's preset (its manifest config) fits a quality gate for its restoration stage."""
        config = self.manifest().get("config") or {}
        preset = config.get("preset")
        if not isinstance(preset, dict) or "name" not in preset or "degradation" not in config:
            return False  # no preset recorded: the gate file alone says whether the run has one
        from keras_irdi.preset_sections import Preset

        return Preset.from_dict(preset).for_degradation(config["degradation"]).restoration.quality_gate

    def load_stages(self, *stages: str) -> dict:
        self.require(*stages)
        return {s: self.load_stage(s) for s in stages}
