"""keras_irdi.runs.directory: a run directory on disk never passes a half-written stage or file for a finished one.

A stage is saved into <stage>.tmp and renamed into place; JSON files are written to a temp file and renamed;
the run directory is checked writable before any work. Each test breaks one of these steps on purpose.
"""
import errno
import json
import os
import shutil

import numpy as np
import pytest

from keras_irdi import json_files
from keras_irdi.runs import directory as artifacts
from keras_irdi.errors import InputError, UserError
from keras_irdi.runs.directory import MissingStageError, RunDir
from helpers import call_cli, tiny_model


def test_half_written_stage_is_never_taken_for_finished(tmp_path):
    run = RunDir(tmp_path / "run")
    run.save_stage("cla_org", tiny_model(), {"v": 1}, export=False)
    assert run.has_stage("cla_org") and run.has_stage("cla_org", {"v": 1}) and not run.has_stage("cla_org", {"v": 2})
    full = sorted(p.name for p in run.stage_dir("cla_org").iterdir())
    assert full == ["config.json", "identity.json", "model.keras"]

    def missing(stage):
        assert not run.has_stage(stage)
        with pytest.raises(MissingStageError, match=rf"{stage} not trained .*\n  irdi train --stage {stage} --run-dir"):
            run.require(stage)

    # Killed while save_stage wrote <stage>.tmp: the complete-looking temp dir does not count.
    shutil.copytree(run.stage_dir("cla_org"), run.path / "cla_deg.tmp")
    missing("cla_deg")
    with pytest.raises(MissingStageError, match="irdi train --stage cla_deg --run-dir"):
        run.load_stage("cla_deg")
    # A stage dir without config.json (or without the model) is incomplete.
    shutil.copytree(run.stage_dir("cla_org"), run.stage_dir("cla_res"))
    (run.stage_dir("cla_res") / "config.json").unlink()
    missing("cla_res")
    shutil.copytree(run.stage_dir("cla_org"), run.stage_dir("estimator"))
    (run.stage_dir("estimator") / "model.keras").unlink()
    missing("estimator")
    # Killed between moving the old stage aside and moving the new one in: only <stage>.old exists.
    os.replace(run.stage_dir("cla_org"), run.path / "cla_org.old")
    missing("cla_org")
    # The rerun's save cleans every leftover and ends complete.
    for stage in ("cla_org", "cla_deg", "cla_res", "estimator"):
        run.save_stage(stage, tiny_model(), {"v": 3}, export=False)
        assert run.has_stage(stage, {"v": 3})
        assert sorted(p.name for p in run.stage_dir(stage).iterdir()) == full
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob("*.old"))


def test_disk_full_while_saving_keeps_the_previous_stage(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    run.save_stage("restoration", tiny_model(), {"v": 1}, export=False)

    def no_space(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(artifacts, "write_json", no_space)
    with pytest.raises(OSError, match=r"^no space left on /\S* \(writing .*restoration\.tmp\): free \d+ MB and rerun$"):
        run.save_stage("restoration", tiny_model(), {"v": 2}, export=False)
    monkeypatch.undo()
    assert run.has_stage("restoration", {"v": 1})  # the old, complete stage is untouched
    assert run.load_stage("restoration").name == "tiny"


def test_failed_json_write_leaves_no_temp_file(tmp_path, monkeypatch):
    artifacts.write_json(tmp_path / "manifest.json", {"ok": 1})

    def half_written(fd, mode, *args, **kwargs):  # the temporary file gets part of the text, then ENOSPC
        with open(fd, mode) as f:
            f.write(b'{"ok"')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(json_files, "open", half_written, raising=False)  # shadows the builtin there only
    with pytest.raises(OSError, match="no space left on"):
        artifacts.write_json(tmp_path / "manifest.json", {"ok": 2})
    monkeypatch.undo()
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"ok": 1}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_json_files_are_strict_json(tmp_path):
    """An undefined PSNR (identical images: inf) or a NaN metric is written as null, never as the
    Infinity/NaN tokens that strict readers reject."""
    path = tmp_path / "eval.json"
    artifacts.write_json(path, {"psnr": float("inf"), "rows": [{"loss": float("nan"), "acc": 0.5}],
                                "levels": (1.0, -float("inf"))})
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict token {token}"))
    assert data == {"psnr": None, "rows": [{"loss": None, "acc": 0.5}], "levels": [1.0, None]}
    artifacts.write_json(path, {"f32": np.float32("nan"), "i64": np.int64(3), "arr": np.array([1.0, np.inf]),
                                "half": np.float32(0.5), "path": tmp_path})
    assert json.loads(path.read_text()) == {"f32": None, "i64": 3, "arr": [1.0, None], "half": 0.5,
                                            "path": str(tmp_path)}


def test_corrupt_manifest_is_a_one_line_error(tmp_path, restore_signals, capsys):
    """manifest.json is written atomically; if something else truncates it, the CLI stops cleanly."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"config": {"degrad')
    assert call_cli("train/restoration.py", "--run-dir", run) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "manifest.json" in lines[0], lines


def test_corrupt_manifest_error_names_the_file(tmp_path):
    (tmp_path / "manifest.json").write_text('{"config": {"degrad')
    with pytest.raises(ValueError, match="manifest.json"):
        RunDir(tmp_path).manifest()


@pytest.mark.parametrize("damage", ["not_an_object", "not_utf8", "a_folder"])
def test_every_unreadable_manifest_is_the_same_user_error(tmp_path, damage):
    """Valid JSON that is not an object, bytes that are not UTF-8, a folder in its place: each is a damaged
    manifest to restore (InputError naming it), not an AttributeError or a decode error from deep inside."""
    manifest = tmp_path / "manifest.json"
    if damage == "a_folder":
        manifest.mkdir()
    else:
        manifest.write_bytes(b"[1, 2, 3]" if damage == "not_an_object" else b'{"a": "\xff\xfe"}')
    with pytest.raises(InputError, match=r"manifest\.json is corrupt .*restore it or start a new --run-dir"):
        RunDir(tmp_path).manifest()


def test_a_file_as_run_dir_is_named_as_such(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder; choose another --run-dir"):
        RunDir(tmp_path / "a_file").ensure_writable()


def test_unwritable_run_dir_fails_before_training_whoever_runs_it(tmp_path, monkeypatch):
    """The refusal as root sees it too (root writes into read-only folders, so the test below skips there)."""
    import builtins

    real_open = builtins.open

    def refusing(path, *args, **kwargs):
        if ".write_probe." in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    with pytest.raises(PermissionError, match="not writable .*Permission denied.*choose another --run-dir"):
        RunDir(tmp_path / "run").ensure_writable()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_run_dir_fails_before_training(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable .*Permission denied"):
            RunDir(tmp_path / "ro").ensure_writable()
    finally:
        (tmp_path / "ro").chmod(0o700)
