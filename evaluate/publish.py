#!/usr/bin/env python
"""Copy a run's small, shareable results into the repository: tables (md/csv), figures (png), the sweep
CSV/JSON and the manifest -- never model weights or data.

    python evaluate/publish.py --run-dir RUN --out results/small_jpeg_cifar10
"""
import argparse
import shutil
import sys
from pathlib import Path

from keras_irdi.cli import main_wrapper

PATTERNS = ("tables/*.md", "tables/*.csv", "figures/*.png", "eval/*.csv", "eval/*.json", "eval/*_correct.npz",
            "manifest.json",
            "logs/*.csv")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    run, out = Path(args.run_dir), Path(args.out)
    if not (run / "manifest.json").is_file():
        raise FileNotFoundError(f"{run} is not a run directory (no manifest.json)")
    copied = []
    for pattern in PATTERNS:
        for src in sorted(run.glob(pattern)):
            dst = out / src.relative_to(run)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            copied.append(dst)
    if not any(p.match("eval/*.csv") for p in copied):
        raise FileNotFoundError(f"{run}/eval has no sweep results; run evaluate/sweep.py --run-dir {run} first")
    print(f"copied {len(copied)} files into {out}")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
