"""The commands keep TensorFlow's C++ log off stderr unless --verbose (keras_irdi/tfenv.py), even when the
environment leaves TF_CPP_MIN_LOG_LEVEL low: no "failed call to cuInit" on a CPU machine."""
import os
import shutil
import subprocess
import sys

from helpers import REPO


def test_no_tensorflow_lines_on_stderr_whatever_the_environment(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(REPO / "models" / "small_jpeg_cifar10", run)
    command = [sys.executable, "evaluate/sweep.py", "--run-dir", str(run), "--levels", "10", "--limit", "20",
               "--cifar-dir", "keras_irdi/data/bundled/cifar10_subset.npz", "--force"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="1"))  # 0..2 all printed cuInit before
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
