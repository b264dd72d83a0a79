#!/usr/bin/env python
"""Peak memory of irdi-restore on a 12000x9000 photo, and its refusal of a larger one. Writes
bench/results/restore_memory.json.

The photo: a BSD100 photo enlarged to 12000x9000 (bicubic) and saved as JPEG at quality 50 (108 megapixels);
also the same at 6000x4000 (24 megapixels, what a camera gives). irdi-restore runs in a fresh process with the
shipped JPEG run; that process reports its own peak resident set size (``VmHWM`` in ``/proc/self/status``;
``getrusage``'s ``ru_maxrss`` would also count the parent's memory, which a forked child inherits) once it is
done. The goal (issue 36): at most 1.5 GB for 12000x9000, of which TensorFlow itself takes ~0.6 GB. For scale,
the 12000x9000 image is 324 MB as uint8 and 432 MB in PIL (4 bytes a pixel); one 32-filter float32 feature
map of it would be 14 GB, which is why the restoration runs by tiles.

Then a black 12000x12000 PNG (144 megapixels, a few KB), over the pixel-count limit
(``keras_irdi.data.images.MAX_PIXELS``): it must be refused in one line, before its pixels are allocated.
Peak memory does not depend on the machine's load; the times do (``load_avg_*``: a training job may share
the cores).

    python bench/restore_memory.py
    python bench/restore_memory.py --tiny --run RUN --photo PHOTO   # the same steps at 1/20 of each side (tests)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, REPO, SHIPPED_JPEG_RUN, add_out_option, machine_info, write_result

BUDGET_MB = 1536

WRAPPER = r"""
import sys
from keras_irdi.serving.restore import main
code = main(sys.argv[1:])
# VmHWM: this process's own peak RSS (getrusage's ru_maxrss would include the parent's, inherited by fork)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print("MAXRSS_KB", hwm, "EXIT", code)
"""


def peak_memory(run_dir, image_path, out_dir, *options) -> dict:
    """Run irdi-restore in a fresh process; its exit status, peak RSS (MB), wall time and stderr lines."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(run_dir), str(image_path), "--out", str(out_dir),
                           *options], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    line = next((text for text in proc.stdout.splitlines() if text.startswith("MAXRSS_KB")), None)
    if line is None:
        raise RuntimeError(f"irdi-restore failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"exit": int(line.split()[3]), "peak_rss_mb": round(int(line.split()[1]) / 1024, 1),
            "seconds": round(seconds, 1), "stderr": proc.stderr.splitlines()}


def photo(source, size, path) -> dict:
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").resize(size, Image.BICUBIC).save(path, quality=50)
    return {"size": f"{size[0]}x{size[1]}", "source": Path(source).name, "jpeg_quality": 50,
            "bytes": path.stat().st_size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(SHIPPED_JPEG_RUN), help="run directory (default: the shipped JPEG run)")
    ap.add_argument("--photo", help="photo to enlarge (default: the first of $IRDI_DATA/clean/BSD100)")
    ap.add_argument("--tiny", action="store_true", help="600x450 and 300x200 instead of 12000x9000 and 6000x4000")
    add_out_option(ap, "restore_memory.json")
    args = ap.parse_args(argv)
    if args.photo is None:
        bsd = DATA / "clean" / "BSD100"
        if not bsd.is_dir():
            ap.error(f"--photo: no default, {bsd} is missing (set IRDI_DATA)")
        args.photo = str(sorted(bsd.iterdir())[0])
    big_size, camera_size = ((600, 450), (300, 200)) if args.tiny else ((12000, 9000), (6000, 4000))
    from PIL import Image

    from keras_irdi.data.images import MAX_PIXELS

    info = machine_info()
    result = {"run": os.path.relpath(args.run, REPO), "budget_mb": BUDGET_MB}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = tmp / "photo_big.jpg"
        result["image"] = photo(args.photo, big_size, big)
        result["restore"] = peak_memory(args.run, big, tmp / "out")
        with Image.open(tmp / "out" / "photo_big.png") as restored:
            assert restored.size == big_size
        big.unlink()
        (tmp / "out" / "photo_big.png").unlink()
        restore = result["restore"]
        print(f"{result['image']['size']}: peak RSS {restore['peak_rss_mb']} MB, {restore['seconds']} s",
              flush=True)

        camera = tmp / "photo_camera.jpg"
        result["image_6000x4000"] = photo(args.photo, camera_size, camera)
        result["restore_6000x4000"] = peak_memory(args.run, camera, tmp / "out")
        print(f"{result['image_6000x4000']['size']}: peak RSS {result['restore_6000x4000']['peak_rss_mb']} MB, "
              f"{result['restore_6000x4000']['seconds']} s", flush=True)

        bomb = tmp / "black_12000x12000.png"
        Image.new("RGB", (12000, 12000)).save(bomb)
        result["too_large"] = {"size": "12000x12000", "pixels": 12000 * 12000, "max_pixels": MAX_PIXELS,
                               "bytes": bomb.stat().st_size, **peak_memory(args.run, bomb, tmp / "out")}
        assert result["too_large"]["exit"] == 1 and len(result["too_large"]["stderr"]) == 1, result["too_large"]
        print(f"12000x12000 PNG ({result['too_large']['bytes']} bytes): exit 1, "
              f"{result['too_large']['stderr'][0]!r}, peak RSS {result['too_large']['peak_rss_mb']} MB", flush=True)
    result["within_budget"] = result["restore"]["peak_rss_mb"] <= BUDGET_MB
    write_result(args.out, result, info, __file__, argv)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
