"""keras_irdi.evaluation.level_sweep on the tiny run: columns, accuracies, sharing of sub-model work."""
import csv
import json
import shutil

import numpy as np
import pytest

from keras_irdi.evaluation.level_sweep import COLUMNS, run_sweep, sweep_levels
from keras_irdi.network_ids import NETWORKS, ORACLE
from keras_irdi.reporting.confidence import PerImage, correct_path


def test_sweep_levels():
    assert sweep_levels("jpeg") == [float(q) for q in range(1, 101)]
    blur = sweep_levels("blur")  # a 0.1-pixel grid; the CIFAR-10-C sigmas are on it
    assert len(blur) == 61 and blur[:3] == [0.0, 0.1, 0.2] and 6.0 in blur and 1.0 in blur
    noise = sweep_levels("gaussian")
    assert 0.0 in noise and 50.0 in noise and 22.95 in noise and len(noise) == 51 + 5  # + the CIFAR-10-C sigmas
    with pytest.raises(ValueError, match="1..100"):
        sweep_levels("jpeg", levels=[0, 5])


def test_sweep_shares_work_and_writes_columns(tiny_run, cifar_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # the shared tiny run is read-only
    result = run_sweep(run, limit=30, levels=[10, 60, 100], batch_size=20, verbose=False, data_dir=cifar_dir)
    batches, levels = 2, 3  # 30 images in batches of 20
    calls = result["calls"]
    assert calls["restoration"] == calls["estimator"] == levels * batches
    assert calls["weight_net"] == 2 * levels * batches  # on the estimated level and on the true one (oracle)
    assert calls["cla_org"] == 2 * levels * batches  # degraded input (Cla(org)) and restored (Seq(org))
    assert calls["cla_deg"] == calls["cla_res"] == levels * batches
    rows = list(csv.DictReader(open(run / "eval" / "jpeg_cifar10.csv")))
    assert tuple(rows[0]) == COLUMNS and [float(r["level"]) for r in rows] == [10, 60, 100]
    # Each accuracy is its network's share of right answers among the 30 images, as stored per image for
    # the bootstrap intervals (both written from the same predictions: a wrong denominator or a network
    # scored on another's output disagrees).
    per_image = PerImage.read(correct_path(run / "eval" / "jpeg_cifar10.csv"))
    assert per_image.levels.tolist() == [10, 60, 100]
    for i, r in enumerate(rows):
        for net in (*NETWORKS, ORACLE):
            right = per_image.correct[net][i]
            assert right.shape == (30,)
            assert float(r[f"acc_{net}"]) == pytest.approx(right.mean(), abs=1e-6), (net, r["level"])
        assert float(r["w_org"]) + float(r["w_res"]) == pytest.approx(1, abs=1e-5)
    assert float(rows[0]["psnr_degraded"]) < float(rows[-1]["psnr_degraded"])  # QF 10 worse than QF 100
    saved = json.loads((run / "eval" / "jpeg_cifar10.json").read_text())
    assert saved["n_images"] == 30 and len(saved["rows"]) == 3
    ex = np.load(run / "eval" / "jpeg_cifar10_examples.npz")
    assert ex["levels"].tolist() == [10]  # of the sweep's levels, only QF 10 is an example level
    assert ex["clean"].dtype == np.uint8 and ex["degraded"].shape[1:] == ex["clean"].shape


class _Const:
    """A stand-in sub-model returning a fixed output whatever its input (batch size follows the input)."""

    def __init__(self, fn):
        self.fn = fn

    def predict_on_batch(self, x):
        return self.fn(np.asarray(x))


def test_oracle_row_feeds_the_true_level_to_the_weight_net():
    from keras_irdi.models.forward import SharedForward

    eye = np.eye(3, dtype=np.float32)

    def says(bright, dark):  # a classifier whose answer shows which image it saw: restored (bright) or degraded
        return _Const(lambda x: np.stack([eye[bright] if im.mean() > 0.5 else eye[dark] for im in x]))

    probs_org, probs_res = np.tile(eye[0], (4, 1)), np.tile(eye[1], (4, 1))
    stages = {
        "restoration": _Const(lambda x: 1 - x),  # the degraded images are black, the restored ones white
        "estimator": _Const(lambda x: np.full((len(x), 1), 0.9 if x.mean() < 0.5 else 0.2, np.float32)),
        # The weight net trusts Seq(org) for high levels and Seq(res) for low ones.
        "weight_net": _Const(lambda lv: np.concatenate([lv, 1 - lv], axis=1).astype(np.float32)),
        "cla_org": says(0, 2), "cla_deg": says(2, 2), "cla_res": says(1, 2),
    }
    out = SharedForward(stages)(np.zeros((4, 8, 8, 3), np.uint8), true_level=np.full(4, 0.1, np.float32))
    assert np.argmax(out["cla_org"], axis=1).tolist() == [2] * 4  # Cla(org) sees the degraded image
    assert np.argmax(out["seq_org"], axis=1).tolist() == [0] * 4  # Seq(org) and Seq(res) the restored one
    assert np.argmax(out["seq_res"], axis=1).tolist() == [1] * 4
    assert np.argmax(out["proposed"], axis=1).tolist() == [0] * 4  # the degraded image's estimate 0.9 -> Seq(org)
    assert np.argmax(out["proposed_oracle"], axis=1).tolist() == [1] * 4  # truth 0.1 -> Seq(res)
    np.testing.assert_allclose(out["proposed_oracle"], 0.1 * probs_org + 0.9 * probs_res, atol=1e-6)
