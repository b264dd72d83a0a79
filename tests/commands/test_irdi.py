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
def test_a_wheel_installed_in_a_fresh_venv_trains_sweeps_and_reports(tmp_path):
    """What `pip install keras-irdi` gives a user: the `irdi` console script, the bundled data inside the
    package, nothing read from the repository (run from elsewhere). The venv sees this interpreter's packages
    (TensorFlow and the rest: no download), and its own keras_irdi comes first."""
    import subprocess
    import sys

    from helpers import REPO

    def run(*cmd, cwd=tmp_path, timeout=900):
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout)
        assert proc.returncode == 0, (cmd, proc.stdout[-1500:], proc.stderr[-3000:])
        return proc

    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", REPO)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    wheel = next((tmp_path / "dist").glob("keras_irdi-*.whl"))
    run(venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    where = run(venv / "bin/python", "-c", "import keras_irdi; print(keras_irdi.__file__)").stdout
    assert where.startswith(str(venv)), where
    irdi = venv / "bin/irdi"
    trained = run(irdi, "train", "--preset", "smoke", "--run-dir", "r", "--no-eval")
    assert "bundled CIFAR-10 subset" in trained.stdout
    swept = run(irdi, "sweep", "--run-dir", "r", "--levels", "10,90", "--limit", "20")
    assert "2 levels x 20 images" in swept.stdout
    run(irdi, "tables", "--run-dir", "r")
    assert (tmp_path / "r/tables/SUMMARY.md").is_file()
    manifest = (tmp_path / "r/manifest.json").read_text()
    assert '"command": "irdi train --preset smoke --run-dir r --no-eval"' in manifest
