"""Probe: does the same seed give the same weights on a CPU of another kind, or only on the same one?

    python experiments/cross_cpu_determinism/cross_cpu_determinism.py --cifar-dir DATA --clean-dir T91 --out DIR

The runs are deterministic on one machine (DECISIONS, "Determinism": the `small_v1` runs retrained by another
commit have every stage's weights byte-identical). oneDNN picks its kernels by the instruction set, and a kernel
that sums in another order rounds differently, so this retrains the shipped `small_v1` JPEG seed 0 restoration net
(models/small_v1_jpeg_cifar10/restoration, commit 587e5d8) on the machine at hand, with the command that made it
(``--stage restoration``, seed 0, same data and photos), and compares: its weights tensor by tensor, its
validation log (results/small_v1_jpeg_cifar10/logs/restoration.csv) and its fitted quality gate. It trains through
the command a user runs, ``train/restoration.py`` in a process of its own (the CLIs turn oneDNN on, which this
TensorFlow leaves off without AVX-512); ``--code DIR`` runs another checkout's (``git worktree add DIR 587e5d8``:
the shipped net's own code), so a difference can be put down to the CPU or to the code. Appends the comparison, the
code's commit and this CPU to result.json.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
SHIPPED = ROOT / "models" / "small_v1_jpeg_cifar10"
LOG = ROOT / "results" / "small_v1_jpeg_cifar10" / "logs" / "restoration.csv"


def _weights_compared(new, old) -> dict:
    import numpy as np

    a, b = new.get_weights(), old.get_weights()
    assert [w.shape for w in a] == [w.shape for w in b], "the retrained net is not the shipped architecture"
    identical = sum(bool(np.array_equal(x, y)) for x, y in zip(a, b))
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    scale = max(float(np.max(np.abs(y))) for y in b)
    return dict(tensors=len(a), identical_tensors=identical, bitwise_identical=identical == len(a),
                max_abs_diff=diff, max_abs_weight=round(scale, 4))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar-dir", required=True)
    ap.add_argument("--clean-dir", required=True, help="the T91 photos the shipped run's quality gate read")
    ap.add_argument("--out", required=True, help="a fresh run directory (outside git)")
    ap.add_argument("--code", default=None, help="a checkout whose code trains the net (default: this one)")
    ap.add_argument("--trained", action="store_true", help="--out already holds the retrained net: compare only")
    ap.add_argument("--note", default="", help="what sets this retraining apart, kept in the record")
    args = ap.parse_args()

    from keras_irdi.models.precision import cpu_info
    from keras_irdi.runs.directory import RunDir

    options = ["--run-dir", args.out, "--preset", "small_v1", "--degradation", "jpeg", "--seed", "0",
               "--cifar-dir", args.cifar_dir, "--clean-dir", args.clean_dir]
    code = Path(args.code).resolve() if args.code else ROOT
    if not args.trained:
        subprocess.run([sys.executable, str(code / "train" / "restoration.py"), *options], check=True,
                       env={**os.environ, "PYTHONPATH": str(code)})
    run, shipped = RunDir(args.out), RunDir(SHIPPED)
    manifest = json.loads((Path(args.out) / "manifest.json").read_text())
    stage = manifest["stages"]["restoration"]
    data = [manifest["data"], json.loads((SHIPPED / "manifest.json").read_text())["data"]]
    same_data = len({(d.get("sha256") or d["cifar_sha256"], d["train"], d["val"], d["test"]) for d in data}) == 1
    new_log = list(csv.DictReader(open(Path(args.out) / "logs" / "restoration.csv")))
    old_log = list(csv.DictReader(open(LOG)))
    gate = [json.loads((d / "restoration" / "quality_gate.json").read_text()) for d in (Path(args.out), SHIPPED)]
    psnr = [json.loads((d / "manifest.json").read_text())["stages"]["restoration"]["metrics"]["val_psnr_restored"]
            for d in (Path(args.out), SHIPPED)]
    info = cpu_info()
    record = dict(
        note=args.note,
        cpu=info["cpu"], family_model=info["family_model"], avx512=info["avx512"], bf16_flags=info["bf16_flags"],
        commit=stage["commit"][:7],  # of the code that trained, as the run recorded it
        weights=_weights_compared(run.load_stage("restoration"), shipped.load_stage("restoration")),
        val_loss={name: [float(r["val_loss"]) for r in log] for name, log in (("retrained", new_log),
                                                                               ("shipped", old_log))},
        val_psnr_restored=dict(retrained=psnr[0], shipped=psnr[1]),
        same_data=same_data, log_identical=new_log == old_log, quality_gate_identical=gate[0] == gate[1],
        quality_gate_differences={q: round(gate[0][q] - old, 3) for q, old in gate[1].items() if gate[0][q] != old},
        seconds=stage["seconds"], date=time.strftime("%Y-%m-%d"))
    path = HERE / "result.json"
    results = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(results + [record], indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
