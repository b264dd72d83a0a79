"""Hand-made sweep CSVs shared by the table and figure tests (no TensorFlow:
keras_irdi.reporting.sweep_files is TF-free)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from keras_irdi.reporting.sweep_files import COLUMNS, NETWORK_COLUMNS


def jpeg_row(q):
    """Crafted JPEG accuracies: the interval means below follow from sums of arithmetic series."""
    return {"level": q, "acc_cla_org": q / 100, "acc_cla_deg": 0.6, "acc_seq_org": 0.5 + q / 400,
            "acc_seq_res": 0.65, "acc_ens_cla": 0.55, "acc_proposed": 0.7,
            "psnr_degraded": 20 + q / 10, "psnr_restored": 21 + q / 10,
            "level_mae": 1.0, "level_bias": 0.0, "level_est_mean": q, "level_est_std": 2.0,
            "w_org": q / 100, "w_res": 1 - q / 100}


def gaussian_row(s):
    """Crafted noise accuracies; the CIFAR-10-C sigmas get 0.123 everywhere (they must not enter intervals)."""
    if s != int(s):
        acc = dict.fromkeys(NETWORK_COLUMNS, 0.123)
    else:
        acc = {"acc_cla_org": 1 - s / 100, "acc_cla_deg": 0.8, "acc_seq_org": 0.85, "acc_seq_res": 0.82,
               "acc_ens_cla": 0.5, "acc_proposed": 0.9}
    return {"level": s, **acc, "psnr_degraded": 30 - s / 5, "psnr_restored": 33 - s / 5, "level_mae": 1.5,
            "level_bias": -0.5, "level_est_mean": s - 0.5, "level_est_std": 1.0, "w_org": 0.5, "w_res": 0.5}


def write_sweep(run_dir: Path, name: str, rows, meta=None) -> Path:
    eval_dir = run_dir / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    path = eval_dir / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if meta is not None:
        (eval_dir / f"{name}.json").write_text(json.dumps({**meta, "rows": rows, "run": {}}))
    return path
