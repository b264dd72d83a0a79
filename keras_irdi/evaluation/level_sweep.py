"""The level sweep: accuracy of the six networks at every degradation level, with shared work (forward.py).

Beside the six, an oracle: Proposed (true level), the same weight net fed the true level instead of the
estimate. Not a competitor (no deployed model knows the level); its gap to Proposed is what a perfect
level estimator would buy.

Per level and batch each sub-model runs exactly once: the restored batch feeds Seq(org), Seq(res)
and Proposed; Ens(Cla) and Proposed reuse the probabilities already computed, combined by the same
mixing layers the composite models use. ``calls`` in the result counts sub-model invocations so
tests (and the benchmark) can check the sharing.
"""
from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import numpy as np

from keras_irdi.runs.directory import RunDir, write_json

from keras_irdi.json_files import write_atomic
from keras_irdi.reporting.confidence import correct_path, write_correct
from keras_irdi.degradations import degrade, get_degradation
from keras_irdi.errors import InputError, MissingError
from keras_irdi.models.forward import SharedForward
from keras_irdi.models.precision import POLICIES, reduced_copy
from keras_irdi.metrics import accuracy, mean_cpsnr
from keras_irdi.network_ids import NETWORKS, ORACLE
from keras_irdi.reporting.sweep_files import COLUMNS
from keras_irdi.stage_registry import get_stage
SWEEP_STAGES = ("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net")


def sweep_levels(degradation: str, step: int = 1, levels=None) -> list:
    """The paper's integer levels (plus the CIFAR-10-C levels, which the side table needs)."""
    deg = get_degradation(degradation)
    if levels is not None:
        return sorted({float(v) for v in deg.check(levels).tolist()})
    chosen = set(deg.sweep_levels(step).tolist()) | set(deg.cifar_c_levels)
    return sorted(float(v) for v in chosen)


def evaluate_level(forward: SharedForward, x_clean, y, degradation: str, level: float, seed: int,
                   batch_size: int = 500) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    deg = get_degradation(degradation)
    degraded = degrade(x_clean, degradation, level, seed=seed)
    true_level = np.full(len(degraded), deg.normalize(level), np.float32)
    parts = [forward(degraded[i:i + batch_size], true_level[i:i + batch_size])
             for i in range(0, len(degraded), batch_size)]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    restored8 = np.clip(np.round(cat["restored"] * 255), 0, 255).astype(np.uint8)
    est = deg.denormalize(cat["level"])
    row = {"level": level}
    correct = {}
    for net in (*NETWORKS, ORACLE):
        row[f"acc_{net}"] = accuracy(cat[net], y)
        correct[net] = np.argmax(cat[net], axis=-1) == np.asarray(y).reshape(-1)
    row.update(psnr_degraded=mean_cpsnr(x_clean, degraded), psnr_restored=mean_cpsnr(x_clean, restored8),
               level_mae=float(np.mean(np.abs(est - level))), level_bias=float(np.mean(est - level)),
               level_est_mean=float(np.mean(est)), level_est_std=float(np.std(est)),
               **{col: float(np.mean(cat["weights"][:, i])) if i is not None else 0.0
                  for col, i in forward.weight_columns().items()})
    return row, degraded, restored8, correct


def run_sweep(run_dir, limit: int | None = None, levels=None, step: int | None = None,
              batch_size: int = 500, examples: int = 8, verbose: bool = True, data_dir=None,
              force: bool = False, precision: str = "float32") -> dict:
    """Sweep the run's test set over the levels; writes RUN/eval/<degradation>_<dataset>.{csv,json}.

    ``data_dir`` overrides the run's data location (e.g. for shipped models trained elsewhere).
    ``precision``: float32 measures what is served; bfloat16 runs the convolutional stages in mixed bfloat16
    (``models.precision.reduced_copy``), faster where the CPU has bf16 units, for a sweep too long otherwise
    (docs/DECISIONS.md, "Precision"). Every option is checked before anything is loaded or written, and a
    sweep with fewer levels or fewer images than the one already in RUN/eval is refused unless ``force``.
    Holds the run directory's lock."""
    from keras_irdi.runs.lock import holding_run

    for name, value in (("--limit", limit), ("--step", step), ("--batch-size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value < 1):
            raise InputError(f"{name} must be a whole number >= 1, got {value!r}")
    if precision not in POLICIES:
        raise InputError(f"the sweep's precision must be one of {', '.join(POLICIES)}, got {precision!r}")
    if not RunDir(run_dir).manifest_path.is_file():
        raise MissingError(f"{run_dir} is not a run directory (no manifest.json); "
                           "train one with: irdi train --run-dir RUN")
    with holding_run(run_dir):
        return _sweep(run_dir, limit, levels, step, batch_size, examples, verbose, data_dir, force, precision)


def refuse_smaller_sweep(stem: Path, n_levels: int, n_images: int) -> None:
    """ExistsError if ``stem``.csv holds a fuller sweep (more levels or more images) than the one asked for."""
    import json

    from keras_irdi.errors import ExistsError

    csv_path, json_path = Path(f"{stem}.csv"), Path(f"{stem}.json")
    if not csv_path.is_file():
        return
    with open(csv_path, newline="") as f:
        old_levels = sum(1 for _ in csv.DictReader(f))
    try:
        old_images = int(json.loads(json_path.read_text()).get("n_images", 0))
    except (OSError, ValueError):
        old_images = 0
    if old_levels > n_levels or old_images > n_images:
        raise ExistsError(f"{csv_path} holds a fuller sweep ({old_levels} levels x {old_images or '?'} images) than "
                          f"this one ({n_levels} levels x {n_images} images); pass --force to replace it")


def _sweep(run_dir, limit, levels, step, batch_size, examples, verbose, data_dir, force, precision) -> dict:
    import keras

    from keras_irdi.datasets import get_dataset
    from keras_irdi.runs.config import RunConfig

    run = RunDir(run_dir)
    manifest = run.manifest()
    if "config" not in manifest:
        raise MissingError(f"{run.path} is not a run directory (no manifest.json); "
                                "train one with: irdi train --run-dir RUN")
    config = RunConfig.from_dict(manifest["config"])
    lv = sweep_levels(config.degradation, step or config.preset.evaluation.sweep_step, levels)
    run.require(*SWEEP_STAGES)
    data = get_dataset(config.dataset).load(data_dir or config.runtime.data_dir, limit_train=0,
                                            limit_test=config.preset.evaluation.test_limit)
    x, y = data["x_test"], data["y_test"]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    if not force:
        refuse_smaller_sweep(run.path / "eval" / f"{config.degradation}_{config.dataset}", len(lv), len(x))
    stages = run.load_stages(*SWEEP_STAGES)
    stages.update({s: reduced_copy(stages[s], precision) for s in stages if get_stage(s).reduced_precision})
    deg = get_degradation(config.degradation)
    example_levels = set(deg.psnr_levels[::2]) | {deg.psnr_levels[0]}
    forward = SharedForward(stages)
    rows, ex = [], {"levels": [], "degraded": [], "restored": []}
    correct = {}
    # A progress bar on a terminal; in a redirected log its ANSI redraws are noise, so nothing per level.
    bar = keras.utils.Progbar(len(lv), unit_name="level") if verbose and sys.stdout.isatty() else None
    start = time.time()
    for i, level in enumerate(lv):
        row, degraded, restored, right = evaluate_level(forward, x, y, config.degradation, level,
                                                        seed=config.seed * 100003 + i, batch_size=batch_size)
        rows.append(row)
        for net, r in right.items():
            correct.setdefault(net, []).append(r)
        if level in example_levels:
            ex["levels"].append(level)
            ex["degraded"].append(degraded[:examples])
            ex["restored"].append(restored[:examples])
        if bar:
            bar.update(i + 1, values=[("proposed", row["acc_proposed"])])
    seconds = time.time() - start
    out_dir = run.path / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{config.degradation}_{config.dataset}"
    # Every file is written whole or not at all (write_atomic): a full disk or Ctrl-C leaves the last sweep's.
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_atomic(f"{stem}.csv", text.getvalue())
    result = {"degradation": config.degradation, "dataset": config.dataset, "n_images": int(len(x)),
              "rows": rows, "calls": dict(forward.calls), "seconds": round(seconds, 1), "precision": precision,
              "run": {"preset": config.preset.name, "seed": config.seed, "run_dir": str(run.path)}}
    write_json(Path(f"{stem}.json"), result)
    # Per-image correctness: what the claims' bootstrap confidence intervals resample (keras_irdi.reporting.confidence).
    packed = io.BytesIO()
    write_correct(packed, [r["level"] for r in rows], {net: np.stack(r) for net, r in correct.items()})
    write_atomic(correct_path(f"{stem}.csv"), packed.getvalue())
    if ex["levels"]:
        packed = io.BytesIO()
        np.savez_compressed(packed, clean=x[:examples], levels=np.array(ex["levels"]),
                            degraded=np.stack(ex["degraded"]), restored=np.stack(ex["restored"]))
        write_atomic(f"{stem}_examples.npz", packed.getvalue())
    run.update_manifest(eval={f"{config.degradation}_{config.dataset}": {
        "seconds": round(seconds, 1), "levels": len(lv), "n_images": int(len(x)), "precision": precision}})
    return result
