"""keras_irdi.serving.predict CLI on a tiny random-weight run and on its SavedModel export: output, every odd or
unreadable image file (one error line each, the others still classified), option errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi.serving.export import export_serving
from keras_irdi.serving.predict import main, parse_degrade
from helpers import REPO
from odd_images import CONVERTED

T91 = Path(os.environ.get("IRDI_DATA") or REPO.parent / "shared" / "data") / "clean" / "T91"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict_images")
    real = sorted(T91.glob("*.png"))[:1] if T91.is_dir() else []
    if real:
        good = real[0]
    else:  # no shared data: a generated colour image of an odd size
        good = folder / "generated.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)).save(good)
    gray = folder / "gray.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 40), dtype=np.uint8), "L").save(gray)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return {"good": good, "gray": gray, "corrupt": corrupt}


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_export")
    return export_serving(tiny_run, root, "proposed")  # root/proposed/1


def run_json(capsys, *args):
    code = main([*map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_run_dir_text_output(tiny_run, files, capsys):
    code = main([str(tiny_run), str(files["good"]), str(files["corrupt"]), str(files["gray"]), "--top-k", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {files['corrupt']}: not a readable image")
    assert str(files["good"]) in out and str(files["gray"]) in out and str(files["corrupt"]) not in out
    assert out.count("  1. ") == 2 and out.count("  2. ") == 2 and "  3. " not in out
    assert out.count("quality factor of the classifier's input (drives the weights): ") == 2
    assert out.count("weights: w_org ") == 2


def test_run_dir_and_saved_model_agree(tiny_run, exported, files, capsys):
    images = [files["good"], files["gray"], files["corrupt"]]
    code_run, from_run, _ = run_json(capsys, tiny_run, *images)
    code_sm, from_sm, _ = run_json(capsys, exported, *images)
    code_parent, from_parent, _ = run_json(capsys, exported.parent, *images)  # DIR/<model> -> highest version
    code_root, from_root, _ = run_json(capsys, exported.parent.parent, *images)  # export root -> proposed
    assert code_run == code_sm == code_parent == code_root == 1
    assert from_sm == from_parent == from_root and len(from_sm) == len(from_run)
    for a, b in zip(from_run, from_sm):
        assert a["file"] == b["file"]
        if "error" in a:
            assert a["error"] == b["error"] and a["file"] == str(files["corrupt"])
            continue
        assert a["class"] == b["class"] and [t["class"] for t in a["top_k"]] == [t["class"] for t in b["top_k"]]
        np.testing.assert_allclose([t["probability"] for t in a["top_k"]], [t["probability"] for t in b["top_k"]],
                                   atol=1e-5)
        assert abs(a["level_of_input"] - b["level_of_input"]) < 1e-4
        assert a["level_native"]["tiles"] == b["level_native"]["tiles"]
        assert abs(a["level_native"]["median"] - b["level_native"]["median"]) < 1e-2
        assert a["weights"] == pytest.approx(b["weights"], abs=1e-5)
        assert a["level_unit"] == b["level_unit"] == "quality factor"
        assert len(a["top_k"]) == 3 and abs(sum(w for w in a["weights"].values()) - 1) < 1e-5
    assert [("error" in r) for r in from_run] == [False, False, True]


def test_degrade_option(tiny_run, files, capsys):
    code, results, _ = run_json(capsys, tiny_run, files["good"], "--degrade", "jpeg:10", "--model", "cla_org")
    assert code == 0 and results[0]["degraded"] == "jpeg:10"
    assert results[0]["weights"] == {"w_org": 1.0, "w_res": 0.0}  # Cla(org)'s convention
    code, noisy, err = run_json(capsys, tiny_run, files["good"], "--degrade", "gaussian:25", "--model", "cla_org")
    assert code == 0 and noisy[0]["degraded"] == "gaussian:25"
    assert noisy[0]["top_k"] != results[0]["top_k"]
    # tiny_run is a JPEG model: noise is allowed, with a warning that its level and weights assume JPEG.
    assert "trained for jpeg, not gaussian" in err
    assert "warning" not in run_json(capsys, tiny_run, files["good"], "--degrade", "jpeg:10")[2]


@pytest.mark.parametrize("spec, expected", [("jpeg:0", "1..100"), ("jpeg:101", "1..100"),
                                            ("gaussian:51", "0..50"), ("png:3", "jpeg, gaussian"),
                                            ("jpeg", "KIND:LEVEL"), ("jpeg:abc", "1..100"), ("jpeg:2.5", "integer")])
def test_bad_degrade_spec_is_usage_error(tiny_run, files, capsys, spec, expected):
    with pytest.raises(SystemExit) as exc:
        main([str(tiny_run), str(files["good"]), "--degrade", spec])
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


def test_bad_seed_is_usage_error(tiny_run, files, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tiny_run), str(files["good"]), "--degrade", "gaussian:10", "--seed", "-1"])
    assert exc.value.code == 2 and "--seed: must be a whole number in 0..2147483647" in capsys.readouterr().err


def test_an_export_root_without_the_model_asked_names_what_it_holds(exported, files, capsys):
    assert main([str(exported.parent.parent), str(files["good"]), "--model", "cla_org"]) == 2
    err = capsys.readouterr().err
    assert "holds the exports proposed, not --model 'cla_org'" in err and "irdi export --model cla_org" in err


def test_bad_model_dir_is_usage_error(tmp_path, files, capsys):
    assert main([str(tmp_path), str(files["good"])]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), str(files["good"])]) == 2
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), str(files["good"]), "--top-k", "0"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_subprocess_exit_code(exported, files):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "keras_irdi.serving.predict", str(exported), str(files["good"]),
                           str(files["corrupt"])], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [line for line in errors if str(files["corrupt"]) in line] and len(errors) == 1
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"{files['good']}: ") and "  1. " in proc.stdout


def test_damaged_exports_and_stages_are_one_line_errors(tiny_run, exported, files, tmp_path, capsys):
    """A truncated SavedModel or model.keras is the user's to replace: one line naming the file, exit 2."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    for pb in broken.rglob("saved_model.pb"):
        pb.write_bytes(pb.read_bytes()[:100])
    assert main([str(broken), str(files["good"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "export it again" in err
    for damage in ("truncated_variables", "empty_index"):  # TensorFlow's checkpoint reader: IndexError, OpError
        broken = tmp_path / damage
        shutil.copytree(exported, broken)
        for data in broken.rglob("variables.data-*" if damage == "truncated_variables" else "variables.index"):
            content = data.read_bytes()
            data.write_bytes(content[:len(content) // 2] if damage == "truncated_variables" else b"")
        assert main([str(broken), str(files["good"])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "export it again" in err, err

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    keras_file = run / "cla_org" / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:1000])
    assert main([str(run), str(files["good"]), "--model", "cla_org"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.keras is damaged" in err and "irdi train --stage cla_" in err


def test_a_missing_quality_gate_does_not_stop_classifying(tiny_run, files, tmp_path, capsys):
    """The gate serves the restore signature only: predict classifies without it, as it does with it."""
    import shutil

    from keras_irdi.runs.directory import RunDir, StaleStageError

    assert main([str(tiny_run), str(files["good"]), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "restoration" / "quality_gate.json").unlink(missing_ok=True)
    RunDir(run).update_manifest(config=dict(RunDir(run).manifest()["config"],
                                            preset={"name": "tiny", "restoration": {"quality_gate": True}}))
    with pytest.raises(StaleStageError, match="quality_gate.json is missing"):
        RunDir(run).quality_gate()  # the run now expects a gate it lacks
    assert main([str(run), str(files["good"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["top_k"] == expected[0]["top_k"]


# -- every odd file, options -------------------------------------------------------------------------
PREDICT_ERRORS = {"corrupt": "not a readable image", "truncated_jpeg": "not a readable image",
                  "zero_byte": "not a readable image", "text_as_png": "not a readable image",
                  "bomb": "too large", "directory": "not a readable image", "missing": "no such file"}


def test_predict_cli_every_odd_file(tiny_run, odd_files, capsys):
    readable = sorted(CONVERTED)
    names = readable + sorted(PREDICT_ERRORS)
    code = main([str(tiny_run), *(str(odd_files[n]) for n in names), "--json", "--top-k", "10"])
    captured = capsys.readouterr()
    assert code == 1  # some files unreadable; the others are still classified
    results = json.loads(captured.out)
    assert [r["file"] for r in results] == [str(odd_files[n]) for n in names]
    for name, r in zip(names, results):
        if name in PREDICT_ERRORS:
            assert r["error"].startswith(f"{odd_files[name]}: ") and PREDICT_ERRORS[name] in r["error"], r
            assert f"error: {r['error']}" in captured.err.splitlines()
        else:
            assert "error" not in r, r
            assert abs(sum(t["probability"] for t in r["top_k"]) - 1) < 1e-5  # all 10 classes
            assert np.isfinite(r["level_of_input"]) and abs(sum(r["weights"].values()) - 1) < 1e-5
    assert len(captured.err.splitlines()) == len(PREDICT_ERRORS)


@pytest.mark.slow
def test_predict_cli_only_bad_files_subprocess(tiny_run, odd_files):
    """As a user runs it: one `error:` line per file, exit status 1, no Python/TensorFlow traceback."""
    bad = [odd_files[n] for n in ("zero_byte", "bomb", "missing", "truncated_jpeg")]
    proc = subprocess.run([sys.executable, "-m", "keras_irdi.serving.predict", str(tiny_run), *map(str, bad)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[1] for e in errors] == [str(p) for p in bad]


def test_parse_degrade_accepts_and_normalises():
    assert parse_degrade("jpeg:50.0") == ("jpeg", 50)
    assert parse_degrade("GAUSSIAN:12.5") == ("gaussian", 12.5)
    assert parse_degrade("gaussian:0") == ("gaussian", 0.0)


@pytest.mark.parametrize("spec, expected", [
    ("gaussian:-1", "0..50"), ("gaussian:-0.1", "0..50"), ("gaussian:nan", "finite"),
    ("gaussian:inf", "finite"), ("jpeg:-5", "1..100"), ("jpeg:1e3", "1..100"), ("gaussian:", "KIND:LEVEL"),
    (":10", "KIND:LEVEL"), ("motion:3", "choose one of: jpeg, gaussian, blur")])
def test_predict_degrade_option_errors(tmp_path, capsys, spec, expected):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "x.png", "--degrade", spec])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and expected in err and "usage: irdi-predict" in err


def test_predict_model_option_lists_the_networks(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "x.png", "--model", "vgg"])
    assert exc.value.code == 2 and "invalid choice: 'vgg'" in capsys.readouterr().err
