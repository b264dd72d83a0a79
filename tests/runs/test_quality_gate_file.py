"""The restoration stage's artefacts are checked where irdi-restore reads them: ``quality_gate.json`` has a schema
(integer qualities 1..100, shares in [0, 1]) and must be there when the run's preset fits a gate; a restoration
stage copied in from another run is refused as predict refuses it. Each case: exit 2, one line naming the file
and the command that retrains the stage (runs/stage_identity.py, RunDir.quality_gate)."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_irdi.presets import get_preset
from keras_irdi.runs.directory import RunDir
from keras_irdi.serving import predict, restore

GATE = {"10": 1.0, "50": 0.5, "100": 0.0}


@pytest.fixture
def gated_run(tiny_run, tmp_path):
    """A copy of the tiny run whose manifest records a JPEG run of a gated preset (smoke), with its gate."""
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    assert get_preset("smoke").restoration.quality_gate
    RunDir(run_dir).update_manifest(config={"degradation": "jpeg", "dataset": "cifar10", "seed": 0,
                                            "preset": get_preset("smoke").to_dict()})
    (run_dir / "restoration" / "quality_gate.json").write_text(json.dumps(GATE))
    return run_dir


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
    return path


def _restore(run_dir, photo, capsys):
    out = photo.parent / "out"
    code = restore.main([str(run_dir), str(photo), "--out", str(out)])
    return code, capsys.readouterr().err.splitlines(), sorted(p.name for p in out.iterdir()) if out.is_dir() else []


def test_a_valid_gate_is_applied(gated_run, photo, capsys, restore_signals):
    assert RunDir(gated_run).quality_gate() == {10: 1.0, 50: 0.5, 100: 0.0}
    code, err, written = _restore(gated_run, photo, capsys)
    assert (code, err, written) == (0, [], ["photo.png"])


@pytest.mark.parametrize("content, problem", [
    (None, "is missing (this run's preset fits a quality gate)"),
    ('{"30": "abc"}', "gives quality 30 the share 'abc': shares are numbers in [0, 1]"),
    ('{"30": 5.0}', "gives quality 30 the share 5.0: shares are numbers in [0, 1]"),
    ('{"30": -0.5}', "gives quality 30 the share -0.5: shares are numbers in [0, 1]"),
    ('{"30": NaN}', "gives quality 30 the share nan: shares are numbers in [0, 1]"),
    ('{"30": null}', "gives quality 30 the share None: shares are numbers in [0, 1]"),
    ('{"30.5": 0.5}', "has the quality '30.5': qualities are the integers 1..100"),
    ('{"abc": 0.5}', "has the quality 'abc': qualities are the integers 1..100"),
    ('{"101": 0.5}', "has the quality '101': qualities are the integers 1..100"),
    ('[0.5]', "is not a table {JPEG quality: share of the residual}"),
    ('{"30": 0.5', "is damaged (not JSON)"),
], ids=["deleted", "non_numeric", "above_1", "below_0", "nan", "null", "fractional_quality", "word_quality",
        "quality_101", "list", "truncated"])
def test_a_bad_gate_refuses_to_restore_in_one_line(gated_run, photo, capsys, restore_signals, content, problem):
    gate = gated_run / "restoration" / "quality_gate.json"
    if content is None:
        gate.unlink()
    else:
        gate.write_text(content)
    code, err, written = _restore(gated_run, photo, capsys)
    assert code == 2 and written == []
    assert err == [f"error: {gate} {problem}; retrain the stage: irdi train --stage restoration --run-dir {gated_run}"]


def test_no_gate_where_the_preset_has_none_applies_all_of_the_residual(gated_run, photo, capsys, restore_signals):
    RunDir(gated_run).update_manifest(config={"degradation": "gaussian", "dataset": "cifar10", "seed": 0,
                                              "preset": get_preset("smoke").to_dict()})  # gated for JPEG only
    (gated_run / "restoration" / "quality_gate.json").unlink()
    assert RunDir(gated_run).quality_gate() is None
    assert _restore(gated_run, photo, capsys)[:2] == (0, [])


def test_a_restoration_stage_of_another_run_is_refused_by_restore_as_by_predict(gated_run, photo, tmp_path,
                                                                                capsys, restore_signals):
    other = RunDir(tmp_path / "gaussian_run")
    other.save_stage("restoration", RunDir(gated_run).load_stage("restoration"), export=False,
                     config={"stage": "restoration", "degradation": "gaussian", "dataset": "cifar10", "seed": 0})
    shutil.rmtree(gated_run / "restoration")
    shutil.copytree(other.stage_dir("restoration"), gated_run / "restoration")  # identity.json and all
    expected = (f"error: {gated_run / 'restoration'} is another run's restoration stage (degradation 'gaussian', "
                f"this run's is 'jpeg'): copied in from elsewhere; retrain it: irdi train --stage restoration "
                f"--run-dir "
                f"{gated_run} (or irdi train --run-dir {gated_run}, which retrains what is stale)")
    code, err, written = _restore(gated_run, photo, capsys)
    assert (code, err, written) == (2, [expected], [])
    assert predict.main([str(gated_run), str(photo)]) == 2
    assert capsys.readouterr().err.splitlines() == [expected]
