"""A full disk at each write site: one line (errors.no_space), exit status 2, nothing half-written under a
final name, no temporary file or folder left, and the rerun with space completes with nothing lost.

The disk "fills" when a test's patched writer raises OSError(ENOSPC) (or TensorFlow's ResourceExhaustedError)
after writing part of its file, so the cleanup of that part is what is checked. test_full_disk_tmpfs.py runs
the same on a real, small tmpfs."""
import errno
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.errors import DiskFullError
from keras_irdi import json_files
from keras_irdi.runs.directory import RunDir
from helpers import call_cli, tiny_model
from sweep_csv import jpeg_row, write_sweep

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
LINE = r"^no space left on /\S* \(writing {path}\): free \d+ MB and rerun$"


class _FillsUp:
    """A file that takes half of the first write, then finds the disk full."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fill_disk_at(monkeypatch, nth: int, seen: list):
    """The ``nth`` (from 0) atomic write of an artefact finds the disk full; ``seen`` gets each file written."""
    def full_open(fd, mode="r", *args, **kwargs):
        f = open(fd, mode, *args, **kwargs)
        if "w" not in mode:  # read_json
            return f
        seen.append(fd)
        return _FillsUp(f) if len(seen) - 1 == nth else f

    monkeypatch.setattr(json_files, "open", full_open, raising=False)  # shadows the builtin there only


def temporaries(root):
    return sorted(str(p) for p in root.rglob("*") if ".tmp" in p.name or p.name.endswith(".old"))


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- stage save: model.keras, the SavedModel, the JSON files ------------------------------------------------
def _keras_save_fills(self, path, *args, **kwargs):
    with open(path, "wb") as f:
        f.write(b"PK" * 1000)
    raise ENOSPC


def _export_fills(self, path, *args, **kwargs):
    os.makedirs(os.path.join(path, "variables"))
    raise tf.errors.ResourceExhaustedError(None, None, f"{path}/variables/variables.data-00000-of-00001; No space "
                                                       "left on device")


@pytest.mark.parametrize("site", ["model.keras", "savedmodel", "config.json", "interrupted"])
def test_a_stage_save_stopped_anywhere_leaves_the_previous_stage_and_no_temp_folder(site, tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    run.save_stage("restoration", tiny_model(), {"v": 1})
    before = snapshot(run.stage_dir("restoration"))
    if site == "model.keras":
        monkeypatch.setattr(keras.Model, "save", _keras_save_fills)
    elif site == "savedmodel":
        monkeypatch.setattr(keras.Model, "export", _export_fills)
    elif site == "config.json":
        fill_disk_at(monkeypatch, 0, [])
    else:
        monkeypatch.setattr(keras.Model, "export", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt if site == "interrupted" else DiskFullError) as caught:
        run.save_stage("restoration", tiny_model(), {"v": 2})
    if site != "interrupted":
        assert len(str(caught.value).splitlines()) == 1
        assert caught.match(LINE.format(path=f"{run.path}/restoration.tmp"))
    assert temporaries(run.path) == []
    assert snapshot(run.stage_dir("restoration")) == before and run.has_stage("restoration", {"v": 1})
    monkeypatch.undo()
    run.save_stage("restoration", tiny_model(), {"v": 2})  # the rerun, with space
    assert run.has_stage("restoration", {"v": 2}) and temporaries(run.path) == []


# -- the per-epoch checkpoint: refused before h5py meets the full disk --------------------------------------
def _fit(run, epochs):
    from keras_irdi.preset_sections import StageConfig
    from keras_irdi.training.fitting import fit_stage

    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    return fit_stage(run, "tiny", tiny_model(), lambda e: ds.repeat(e[1] - e[0]), ds,
                     StageConfig(epochs=epochs, batch_size=16),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def test_a_checkpoint_that_would_not_fit_is_not_written_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    from keras_irdi import errors

    run = RunDir(tmp_path / "run")
    real, calls = errors.free_bytes, []

    def free_bytes(path):  # room for the first two epochs' checkpoints only
        calls.append(path)
        return real(path) if len(calls) <= 2 else 1000

    monkeypatch.setattr(errors, "free_bytes", free_bytes)
    latest = run.backup_dir("tiny") / "latest.weights.h5"
    with pytest.raises(DiskFullError, match=LINE.format(path=latest)):
        _fit(run, epochs=4)
    kept = snapshot(run.backup_dir("tiny"))
    assert sorted(kept) == ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",
                            "training_metadata.json.bkp"]
    monkeypatch.undo()
    capsys.readouterr()
    _fit(run, epochs=4)
    assert "[tiny] resuming from epoch 3" in capsys.readouterr().out
    assert not run.backup_dir("tiny").exists() and temporaries(run.path) == []


def test_checkpoint_space_counts_what_the_next_save_adds(tmp_path):
    from keras_irdi.runs.directory import CHECKPOINT_SLACK, state_bytes
    from keras_irdi.training.fitting import checkpoint_space

    model = tiny_model()
    latest, previous = tmp_path / "latest.weights.h5", tmp_path / "latest.weights.h5.bkp"
    assert checkpoint_space(model, latest, previous) == state_bytes(model) + CHECKPOINT_SLACK == 32 + CHECKPOINT_SLACK
    latest.write_bytes(b"x" * 5000)
    assert checkpoint_space(model, latest, previous) == 5000 + CHECKPOINT_SLACK  # copied over the (absent) previous
    previous.write_bytes(b"x" * 5000)
    assert checkpoint_space(model, latest, previous) == CHECKPOINT_SLACK  # both rewritten at their size


# -- the sweep's files, the tables and the figures ---------------------------------------------------------
def _readable(path) -> bool:
    """Whether a sweep file reads back whole."""
    import json

    if path.suffix == ".npz":
        with np.load(path) as f:
            return all(f[k].size >= 0 for k in f.files)
    text = path.read_text()
    return bool(json.loads(text)) if path.suffix == ".json" else text.endswith("\n") and text.count("\n") == 3


@pytest.mark.slow
def test_the_sweep_stopped_by_a_full_disk_at_each_file_leaves_each_whole(tiny_run, cifar_dir, tmp_path, monkeypatch):
    import re

    from keras_irdi.evaluation.level_sweep import run_sweep

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    sweep = dict(limit=8, levels=[10, 90], batch_size=8, examples=2, verbose=False, data_dir=cifar_dir,
                 force=True)
    failed = []
    while True:  # the CSV, the JSON, the per-image file, the examples, the manifest: each in turn
        before = snapshot(run)
        fill_disk_at(monkeypatch, len(failed), [])
        try:
            run_sweep(run, **sweep)
        except DiskFullError as exc:
            assert len(str(exc).splitlines()) == 1
            failed.append(Path(re.search(r"\(writing (\S+)\)", str(exc)).group(1)).relative_to(run))
        else:
            break
        finally:
            monkeypatch.undo()
        after = snapshot(run)
        assert temporaries(run) == [] and after.get(str(failed[-1])) == before.get(str(failed[-1]))
        changed = [name for name, data in after.items() if name.startswith("eval/") and before.get(name) != data]
        assert all(_readable(run / name) for name in changed)
    assert [p.name for p in failed] == ["jpeg_cifar10.csv", "jpeg_cifar10.json", "jpeg_cifar10_correct.npz",
                                        "jpeg_cifar10_examples.npz", "manifest.json"]
    assert all(_readable(run / "eval" / p.name) for p in failed[:-1]) and temporaries(run) == []


@pytest.mark.slow
@pytest.mark.parametrize("command, folder", [("evaluate/tables.py", "tables"), ("figures/make_figures.py", "figures")])
def test_tables_and_figures_stopped_by_a_full_disk_are_one_line_and_leave_no_partial_file(
        command, folder, tmp_path, monkeypatch, capsys, restore_signals):
    run = tmp_path / "run"
    write_sweep(run, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)], meta={"n_images": 10})
    assert call_cli(command, "--run-dir", run) == 0
    complete, writes = snapshot(run / folder), len(list((run / folder).iterdir()))
    for nth in (0, writes // 2, writes - 1):
        seen = []
        fill_disk_at(monkeypatch, nth, seen)
        capsys.readouterr()
        assert call_cli(command, "--run-dir", run) == 2
        err = capsys.readouterr().err.splitlines()
        monkeypatch.undo()
        assert len(err) == 1 and err[0].startswith("error: no space left on /") and " MB and rerun" in err[0], err
        assert temporaries(run) == [] and set(snapshot(run / folder)) == set(complete)
        _assert_whole(run / folder, complete)
    assert call_cli(command, "--run-dir", run) == 0
    assert sorted(snapshot(run / folder)) == sorted(complete) and temporaries(run) == []
    _assert_whole(run / folder, complete)


def _assert_whole(folder, complete: dict) -> None:
    """No file half-written under its final name: a table is byte for byte the complete run's (tables are
    deterministic); a figure is a whole PNG or PDF."""
    from PIL import Image

    for name, data in snapshot(folder).items():
        path = folder / name
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.verify()
        elif path.suffix == ".pdf":
            assert data.rstrip().endswith(b"%%EOF"), name
        else:
            assert data == complete[name], name
