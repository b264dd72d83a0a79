"""`irdi`, the one installed command: its subcommands, their help and errors, and the scripts and aliases that
call the same functions."""
import signal

import pytest

from helpers import call_cli, run_irdi
from keras_irdi.commands.irdi import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("train", "sweep", "tables", "figures", "publish", "reproducibility", "predict", "restore", "export"):
        assert f"\n  {name} " in out
    assert main([]) == 2 and "usage: irdi SUBCOMMAND" in capsys.readouterr().err


def test_unknown_subcommand_is_one_line(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: irdi has no subcommand 'trian'; it has train, sweep")


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_its_own_help_under_its_name(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: irdi {name} ")


def test_train_options_that_need_or_refuse_a_stage(tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--epochs", "3"]) == 2
    assert "give --stage too" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--stage", "cla_org", "--force"]) == 2
    assert "--force apply to a whole run" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_error_boundary_gives_back_the_callers_signal_handlers(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert call_cli("train/all.py", "--run-dir", tmp_path / "r", "--epochs", "3") == 2
    assert main(["tables", "--run-dir", str(tmp_path / "none")]) == 2
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.mark.slow
def test_the_installed_command_runs_a_subcommand(tmp_path):
    """The installed command's function in a fresh interpreter, as a user on PATH runs it."""
    proc = run_irdi("sweep", "--run-dir", tmp_path / "none", timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "irdi train --run-dir" in proc.stderr


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_trains_sweeps_and_exports_on_image_folders(tmp_path, cifar_dir):
    """What `pip install keras-irdi` gives a user with their own labelled images: the `irdi` console script
    trains the smoke preset on a folder dataset (three classes of real images), sweeps and exports it, from a
    folder outside the repository. The venv sees this interpreter's packages (TensorFlow and the rest: no
    download); its own keras_irdi, from the wheel, comes first."""
    import json
    import shutil
    import subprocess
    import sys

    from helpers import CLASSES, REPO, write_folders

    def run(*cmd, timeout=900):
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path, timeout=timeout)
        assert proc.returncode == 0, (cmd, proc.stdout[-1500:], proc.stderr[-3000:])
        return proc

    src = tmp_path / "src"  # built from a copy: setuptools writes build/ beside the sources
    shutil.copytree(REPO / "keras_irdi", src / "keras_irdi", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.cfg", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    run(venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
        next((tmp_path / "dist").glob("keras_irdi-*.whl")))
    where = run(venv / "bin/python", "-c", "import keras_irdi.data.cifar as c; print(c.__file__, "
                                            "c.BUNDLED_CIFAR10.is_file())").stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "True"  # the package data is in the wheel
    photos = write_folders(tmp_path / "photos", cifar_dir)
    irdi = venv / "bin/irdi"
    run(irdi, "train", "--preset", "smoke", "--dataset", "folder:photos", "--run-dir", "r")
    manifest = json.loads((tmp_path / "r/manifest.json").read_text())
    assert manifest["class_names"] == list(CLASSES) and manifest["config"]["dataset"] == "folder"
    assert manifest["data"]["test"] == 60 and manifest["config"]["runtime"]["data_dir"] == str(photos)
    assert manifest["commands"][0]["command"] == "irdi train --preset smoke --dataset folder:photos --run-dir r"
    assert (tmp_path / "r/eval/jpeg_folder.csv").is_file()
    assert "JPEG image folder" in (tmp_path / "r/tables/SUMMARY.md").read_text()
    run(irdi, "export", "--run-dir", "r", "--out", "exports")
    assert (tmp_path / "exports/proposed/1/saved_model.pb").is_file()
    # --dataset folder with --data-dir is the same dataset: the run reopens with every stage up to date.
    again = run(irdi, "train", "--run-dir", "r", "--dataset", "folder", "--data-dir", "photos", "--no-eval")
    assert again.stdout.count("up to date, skipped") >= 6
