"""tf.distribute: a stage trained with MirroredStrategy over two logical CPU devices (the multi-worker strategy,
two worker processes, is in test_multiworker.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from keras_irdi.runs.directory import RunDir
from helpers import REPO

pytestmark = pytest.mark.slow  # fresh TensorFlow processes, one of them training

# Trains the smoke restoration net (PIL JPEG through py_function in its pipeline) in a fresh process:
# logical devices must be configured before TensorFlow initialises them.
SCRIPT = """
import json, sys
from keras_irdi.tfenv import load_tensorflow
tf = load_tensorflow()
if sys.argv[2] == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_irdi.data.cifar import BUNDLED_CIFAR10
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig, get_strategy, open_run
from keras_irdi.training.stages import train_restoration
config = RunConfig(degradation="jpeg", preset=get_preset("smoke"))
config.preset.patches.source, config.preset.restoration.train.steps_per_epoch = "cifar", 6
run, config = open_run(sys.argv[1], config, data_dir=str(BUNDLED_CIFAR10), strategy=sys.argv[2])
train_restoration(run, config)
print(json.dumps({"replicas": get_strategy(sys.argv[2]).num_replicas_in_sync}))
"""


def _train(run_dir, strategy):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), strategy], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["replicas"], RunDir(run_dir)


def test_mirrored_over_two_cpus_trains_what_one_device_trains(tmp_path):
    """Each replica gets half of every batch and the gradients are summed, so two replicas must end where
    one device does (to float rounding): a wrong split (a replica fed other batches, or unseeded
    degradation that differs between the runs) would move the weights far more."""
    replicas, mirrored = _train(tmp_path / "mirrored", "mirrored")
    assert replicas == 2
    assert mirrored.manifest()["config"]["runtime"]["strategy"] == "mirrored"
    _, single = _train(tmp_path / "default", "default")
    a = mirrored.load_stage("restoration").get_weights()
    b = single.load_stage("restoration").get_weights()
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-3, atol=2e-5)
    assert any(float(np.abs(w).max()) > 0 for w in a[-2:])  # trained: the zero-initialised last layer moved
