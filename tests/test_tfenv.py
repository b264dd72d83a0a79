"""The commands keep TensorFlow's C++ log off stderr unless --verbose (keras_irdi/tfenv.py), even when the
environment leaves TF_CPP_MIN_LOG_LEVEL low: no "failed call to cuInit" on a CPU machine at the first op."""
import os
import subprocess
import sys

import pytest

from helpers import REPO

FIRST_OP = ("import sys; from keras_irdi.tfenv import load_tensorflow; "
            "tf = load_tensorflow(verbose=sys.argv[1] == 'verbose'); print(int(tf.constant(1) + 1))")


@pytest.mark.slow
def test_no_tensorflow_lines_on_stderr_whatever_the_environment():
    for level in ("0", "2"):  # both printed cuInit's error line before
        proc = subprocess.run([sys.executable, "-c", FIRST_OP, "quiet"], capture_output=True, text=True, cwd=REPO,
                              timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL=level))
        assert proc.returncode == 0 and proc.stdout == "2\n" and proc.stderr == "", proc.stderr[-2000:]
