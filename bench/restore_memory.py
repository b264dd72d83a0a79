#!/usr/bin/env python
"""Peak memory of irdi-restore on a 6000x4000 photo. Writes bench/results/restore_memory.json.

The photo: a BSD100 photo enlarged to 6000x4000 (bicubic) and saved as JPEG at quality 50 (24 megapixels,
what a camera gives). irdi-restore runs in a fresh process with the shipped JPEG run; that process reports
its own peak resident set size (``VmHWM`` in ``/proc/self/status``; ``getrusage``'s ``ru_maxrss`` would
also count the parent's memory, which a forked child inherits) once it is done. The goal
(issue 28): at most 2 GB. For scale: the image alone is 72 MB as uint8, 288 MB as float32, and one 32-filter
float32 feature map of the whole image 3 GB -- which is why the restoration runs by tiles.

    python bench/restore_memory.py
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_info

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IRDI_DATA") or REPO.parent / "shared" / "data")

WRAPPER = r"""
import sys
from keras_irdi.serving.restore import main
code = main(sys.argv[1:])
# VmHWM: this process's own peak RSS (getrusage's ru_maxrss would include the parent's, inherited by fork)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print("MAXRSS_KB", hwm, "EXIT", code)
"""


def peak_memory(run_dir, image_path, out_dir, *options) -> dict:
    """Run irdi-restore in a fresh process; its exit status, peak RSS (MB) and wall time."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(run_dir), str(image_path), "--out", str(out_dir),
                           *options], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    line = next((l for l in proc.stdout.splitlines() if l.startswith("MAXRSS_KB")), None)
    if line is None:
        raise RuntimeError(f"irdi-restore failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"exit": int(line.split()[3]), "peak_rss_mb": round(int(line.split()[1]) / 1024, 1),
            "seconds": round(seconds, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(REPO / "models" / "small_v1_jpeg_cifar10"))
    ap.add_argument("--photo", default=str(sorted((DATA / "clean" / "BSD100").iterdir())[0]))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "restore_memory.json"))
    args = ap.parse_args(argv)
    from PIL import Image

    result = {"machine": machine_info(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "run": os.path.relpath(args.run, REPO), "budget_mb": 2048}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "photo_6000x4000.jpg"
        with Image.open(args.photo) as photo:
            photo.convert("RGB").resize((6000, 4000), Image.BICUBIC).save(big, quality=50)
        result["image"] = {"size": "6000x4000", "source": Path(args.photo).name, "jpeg_quality": 50,
                           "bytes": big.stat().st_size}
        result["tiled_512"] = peak_memory(args.run, big, Path(tmp) / "out")
        with Image.open(Path(tmp) / "out" / "photo_6000x4000.png") as restored:
            assert restored.size == (6000, 4000)
        print(f"6000x4000, tiles of 512: peak RSS {result['tiled_512']['peak_rss_mb']} MB, "
              f"{result['tiled_512']['seconds']} s", flush=True)
    result["within_budget"] = result["tiled_512"]["peak_rss_mb"] <= result["budget_mb"]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
