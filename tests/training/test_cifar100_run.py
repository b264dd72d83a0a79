"""The CIFAR-100 path end to end: `train/all.py --preset smoke --dataset cifar100` on an official-layout copy
the test writes itself, so a fresh clone without the development data still runs it."""
import csv
import json
import pickle

import numpy as np
import pytest

from helpers import run_script
from keras_irdi.data.cifar import BUNDLED_CIFAR10, load_cifar
from keras_irdi.runs.directory import RunDir

N_TRAIN, N_TEST = 400, 100


def write_cifar100_copy(root):
    """A `cifar-100-python` folder of real images (the bundled CIFAR-10 subset) with 100 fine labels.

    Each image's fine label is its CIFAR-10 class times ten plus its index modulo ten, so every one of the
    100 classes occurs and the label still follows the picture's content."""
    data = load_cifar("cifar10", cifar_dir=BUNDLED_CIFAR10)
    folder = root / "cifar-100-python"
    folder.mkdir()
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x, y = data[f"x_{split}"][:n], data[f"y_{split}"][:n].ravel()
        fine = [int(c) * 10 + i % 10 for i, c in enumerate(y)]
        rows = x.transpose(0, 3, 1, 2).reshape(n, 3072)  # the official rows: R plane, G plane, B plane
        with open(folder / split, "wb") as f:
            pickle.dump({b"data": rows, b"fine_labels": fine, b"coarse_labels": [c // 5 for c in fine]}, f)
    names = [f"fine_{i:02d}" for i in range(100)]
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [n.encode() for n in names]}, f)
    return names


@pytest.mark.slow
def test_smoke_cifar100_trains_sweeps_and_reports_table_4(tmp_path):
    names = write_cifar100_copy(tmp_path)
    run = tmp_path / "run"
    proc = run_script("train/all.py", "--preset", "smoke", "--dataset", "cifar100", "--cifar-dir", tmp_path,
                      "--run-dir", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rd = RunDir(run)
    manifest = rd.manifest()
    assert manifest["config"]["dataset"] == "cifar100" and manifest["class_names"] == names
    assert manifest["data"]["test"] == N_TEST and manifest["data"]["train"] + manifest["data"]["val"] == N_TRAIN
    for stage in ("cla_org", "cla_deg", "cla_res"):
        out = rd.load_stage(stage).predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
        assert out.shape == (2, 100) and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    rows = list(csv.DictReader(open(run / "eval" / "jpeg_cifar100.csv")))
    assert rows and all(0 <= float(r["acc_proposed"]) <= 1 for r in rows)
    assert json.loads((run / "eval" / "jpeg_cifar100.json").read_text())
    summary = (run / "tables" / "SUMMARY.md").read_text()
    assert "JPEG CIFAR-100" in summary and "Table 4" in summary
