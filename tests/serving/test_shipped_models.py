"""The models shipped in models/ (the `small_v1` runs) load, classify, and serve as run dirs."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi.runs.directory import RunDir
from keras_irdi.stage_registry import delivered_stages
from keras_irdi.data.cifar import load_cifar
from keras_irdi.degradations import degrade
from keras_irdi.models.composites import build_composite
from keras_irdi.runs.config import RunConfig

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = [("small_v1_jpeg_cifar10", "jpeg", 30), ("small_v1_gaussian_cifar10", "gaussian", 20),
           ("small_v1_blur_cifar10", "blur", 1)]


@pytest.mark.parametrize("name, degradation, level", SHIPPED)
def test_shipped_run_classifies_real_images(name, degradation, level, cifar_dir):
    run = RunDir(MODELS / name)
    config = RunConfig.from_dict(run.manifest()["config"])
    assert config.degradation == degradation and config.runtime.data_dir is config.runtime.clean_dirs is None
    stages = run.load_stages(*delivered_stages())
    data = load_cifar("cifar10", cifar_dir=cifar_dir)  # the bundled 200 test images (never trained on)
    x = degrade(data["x_test"], degradation, level, seed=0).astype(np.float32)
    out = build_composite("proposed", stages, degradation)(x, training=False)
    accuracy = float(np.mean(np.argmax(np.asarray(out["probabilities"]), -1) == data["y_test"]))
    # Random weights give ~0.1; the shipped CPU-scale models reach about 0.7-0.8 at these levels.
    assert accuracy > 0.6, accuracy
    weights = np.asarray(out["weights"])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_predict_cli_on_shipped_models(tmp_path, cifar_dir):
    image = load_cifar("cifar10", cifar_dir=cifar_dir)["x_test"][1]  # a ship
    path = tmp_path / "ship.png"
    Image.fromarray(image).save(path)
    proc = subprocess.run([sys.executable, "-m", "keras_irdi.serving.predict", str(MODELS / "small_v1_jpeg_cifar10"),
                           str(path), "--degrade", "jpeg:10", "--model", "proposed", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)[0]
    assert result["degraded"] == "jpeg:10" and result["level_unit"] == "quality factor"
    assert 0 <= result["level_of_input"] <= 100 and result["file_jpeg_quality"] is None
    assert result["class"] in load_cifar("cifar10", cifar_dir=cifar_dir)["class_names"]


def test_shipped_models_fit_the_size_budget():
    files = [p for p in MODELS.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".keras", ".json", ".md"}  # no checkpoints, no SavedModels; the model card
    assert sum(p.stat().st_size for p in files) <= 30 * 2**20  # the repository's budget for models/
