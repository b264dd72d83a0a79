"""What a newcomer copies from the README works on a fresh clone: the shipped models' re-evaluate command
needs no data folder, and the export folder it writes is git-ignored."""
import shlex
import subprocess

import pytest

from helpers import REPO, run_irdi


def test_exports_folder_is_git_ignored():
    assert "/exports/" in (REPO / ".gitignore").read_text().split()
    proc = subprocess.run(["git", "check-ignore", "-q", "exports/proposed/1/saved_model.pb"], cwd=REPO)
    assert proc.returncode == 0


@pytest.mark.slow
def test_reevaluate_command_runs_on_the_bundled_subset(tmp_path):
    readme = (REPO / "README.md").read_text()
    sweep = [line for line in readme.splitlines()
             if line.startswith("irdi sweep --run-dir /tmp/jpeg_run")]
    assert len(sweep) == 1 and "cp -r models/small_v1_jpeg_cifar10 /tmp/jpeg_run" in readme
    args = shlex.split(sweep[0].split("#")[0])[2:]
    assert "DATA" not in args and "keras_irdi/data/bundled/cifar10_subset.npz" in args
    run = tmp_path / "jpeg_run"
    subprocess.run(["cp", "-r", str(REPO / "models" / "small_v1_jpeg_cifar10"), str(run)], check=True)
    args[args.index("/tmp/jpeg_run")] = str(run)
    proc = run_irdi("sweep", *args, "--levels", "10,90", "--limit", "20")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 levels x 20 images" in proc.stdout and proc.stderr == ""
