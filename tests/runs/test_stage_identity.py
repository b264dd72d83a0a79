"""A stage's identity is checked whenever it is required, loaded or found up to date
(keras_irdi/runs/stage_identity.py): a damaged, foreign or stale stage is refused with one line saying which and
why, and train/all.py retrains it saying so."""
import dataclasses
import json
import shutil

import pytest

from helpers import finished_run, random_stages, run_script
from keras_irdi import stage_registry
from keras_irdi.stage_registry import get_stage
from keras_irdi.runs.directory import RunDir, StaleStageError
from keras_irdi.training.stage_configs import expected_stage_config
from keras_irdi.training.stages import train_all

ORDER = ("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net")


@pytest.fixture(scope="module")
def stages():
    return random_stages("jpeg", 10, 0)


def _train_all_with_stub(run, config, monkeypatch, capsys):
    trained = []
    for stage in ORDER:
        stub = dataclasses.replace(get_stage(stage), trainer=lambda r, c, s: trained.append(s) or {})
        monkeypatch.setitem(stage_registry._REGISTRY, stage, stub)
    train_all(run, config, stages=ORDER)
    return trained, capsys.readouterr().out


def test_a_fresh_run_is_up_to_date(tmp_path, stages, cifar_dir, monkeypatch, capsys):
    run, config = finished_run(tmp_path / "run", stages, cifar_dir)
    assert all(run.stage_problem(s) is None for s in ORDER)
    identity = json.loads((run.stage_dir("weight_net") / "identity.json").read_text())
    assert set(identity["inputs"]) == {"restoration", "estimator", "cla_org", "cla_res"}
    assert _train_all_with_stub(run, config, monkeypatch, capsys)[0] == []


def test_another_stages_model_copied_in_is_refused_in_one_line(tmp_path, stages, cifar_dir):
    run, _ = finished_run(tmp_path / "run", stages, cifar_dir)
    shutil.copy(run.stage_dir("cla_org") / "model.keras", run.stage_dir("cla_res") / "model.keras")
    for call in (lambda: run.require("cla_res"), lambda: run.load_stage("cla_res")):
        with pytest.raises(StaleStageError, match=r"cla_res/model.keras is not the model this stage saved \(it holds "
                                                  r"the model of stage cla_org\).*retrain it: "
                                                  r"irdi train --stage cla_res "
                                                  r"--run-dir") as err:
            call()
        assert "\n" not in str(err.value)
    # a stage without its identity was not saved whole: refused too
    (run.stage_dir("cla_org") / "identity.json").unlink()
    with pytest.raises(StaleStageError, match=r"cla_org has no identity.json: it was not saved whole"):
        run.load_stage("cla_org")


def test_garbage_model_is_not_up_to_date(tmp_path, stages, cifar_dir, monkeypatch, capsys):
    run, config = finished_run(tmp_path / "run", stages, cifar_dir)
    (run.stage_dir("cla_res") / "model.keras").write_bytes(b"not a model at all")
    assert not run.has_stage("cla_res", expected_stage_config(config, "cla_res"))
    with pytest.raises(StaleStageError, match="cla_res/model.keras is damaged"):
        run.require("cla_res")
    trained, out = _train_all_with_stub(run, config, monkeypatch, capsys)
    assert trained == ["cla_res"] and "[cla_res] " in out and "is damaged" in out and "retraining it" in out
    assert "[cla_org] up to date" in out


@pytest.mark.slow
def test_weight_net_trained_on_an_older_cla_res_is_stale(tmp_path, stages, cifar_dir, monkeypatch, capsys):
    run, config = finished_run(tmp_path / "run", stages, cifar_dir)
    # train/classifier.py --data restored --epochs 3: Cla(res) retrained, same config
    run.save_stage("cla_res", stages["cla_res"], expected_stage_config(config, "cla_res"), export=False)
    problem = run.stage_problem("weight_net")
    assert problem == "weight_net is stale: it was trained on an older cla_res (cla_res has been retrained since)"
    with pytest.raises(StaleStageError, match="retrain it: irdi train --stage weight_net"):
        run.load_stages("restoration", "weight_net")
    proc = run_script("evaluate/sweep.py", "--run-dir", run.path, "--limit", "10")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: weight_net is stale: it was trained on an older cla_res")
    trained, out = _train_all_with_stub(run, config, monkeypatch, capsys)
    assert trained == ["weight_net"] and f"[weight_net] {problem}; retraining it" in out


def test_shipped_stages_keep_their_identity(tmp_path, stages, cifar_dir):
    """irdi publish re-saves each model (no optimizer state): its identity follows with the new digest."""
    from keras_irdi.commands import publish

    run, _ = finished_run(tmp_path / "run", stages, cifar_dir)
    gate = {"1": 1.0, "100": 0.0}
    (run.stage_dir("restoration") / "quality_gate.json").write_text(json.dumps(gate))
    publish.ship_models(run.path, tmp_path / "shipped")
    shipped = RunDir(tmp_path / "shipped")
    assert all(shipped.stage_problem(s) is None for s in ORDER)
    assert shipped.quality_gate() == {1: 1.0, 100: 0.0}  # irdi-restore on the shipped models applies it
    shipped.save_stage("cla_res", stages["cla_res"], {}, export=False)
    assert shipped.stage_problem("weight_net").startswith("weight_net is stale")
