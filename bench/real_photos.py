#!/usr/bin/env python
"""Real photos at their own resolution: the level estimate and the restoration gain per level.
Writes bench/results/real_photos.json and bench/results/real_photos.md.

On clean photos no stage trained on (BSD100: the shipped runs were trained on CIFAR-10 only), each photo is
degraded at its native resolution -- JPEG: saved by PIL at quality QF (default settings, 4:2:0, the
training degradation) and decoded; noise: Gaussian, sigma on the 0..255 scale, seeded -- then

- level: the run's estimator over the photo's native 32x32 tiles (keras_irdi.serving.native_level, as
  irdi-predict's ``level_native``), median per photo; the error is |median - true level|, and for JPEG the
  true level is also read back from the file's quantisation tables (keras_irdi.data.jpeg_quality);
- restoration: the run's restoration net on the whole photo (keras_irdi.serving.restore, as irdi-restore --full),
  gain = CPSNR(clean, restored) - CPSNR(clean, degraded), dB, per photo; the mean, the worst photo and the
  share of photos it harms (gain < 0) per level.

    python bench/real_photos.py                      # the committed results (100 BSD100 photos)
    python bench/real_photos.py --limit 5            # a quick look
    python bench/real_photos.py --limit 1 --qualities 10,90 --sigmas 20   # the tiny run of the tests
"""
import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import DATA, REPO, SHIPPED_JPEG_RUN, SHIPPED_NOISE_RUN, add_out_option, machine_info, write_result

QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
SIGMAS = (5, 10, 20, 30, 40, 50)
QF_BANDS = ((5, 10), (20, 40), (50, 70), (80, 90), (95, 100))
SIGMA_BANDS = ((5, 10), (20, 30), (40, 50))


def jpeg_file(image: np.ndarray, quality: int):
    """(decoded uint8 image, quality read from the file's tables) of a PIL JPEG at ``quality``."""
    from PIL import Image

    from keras_irdi.data.jpeg_quality import quality_from_tables

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as jpeg:
        read = quality_from_tables(jpeg.quantization)
        return np.asarray(jpeg.convert("RGB")), read


def measure(run_dir: Path, kind: str, levels, photos, names, seed: int) -> dict:
    import keras_irdi.models  # noqa: F401  registers the custom layers
    from keras_irdi.degradations import degrade, get_degradation
    from keras_irdi.metrics import cpsnr
    from keras_irdi.runs.directory import RunDir
    from keras_irdi.serving.native_level import native_level
    from keras_irdi.serving.restore import UNKNOWN_QUALITY, restore_function

    run = RunDir(run_dir)
    estimator, scale = run.load_stage("estimator"), get_degradation(kind).scale
    restore = restore_function(run.load_stage("restoration"))  # no gate: the net as trained, as irdi-restore --full

    def restorer(image):
        return restore(image, UNKNOWN_QUALITY)["restored"].numpy()

    def estimate(tiles):
        return estimator.predict(tiles.astype(np.float32) / 255.0, batch_size=256, verbose=0)[:, 0] * scale

    rows = {}
    start = time.perf_counter()
    for level in levels:
        rng = np.random.default_rng(seed)
        per = {"estimate": [], "iqr": [], "psnr_degraded": [], "psnr_restored": [], "file_quality": []}
        for photo in photos:
            if kind == "jpeg":
                degraded, read = jpeg_file(photo, level)
                per["file_quality"].append(read.quality if read and read.exact else None)
            else:
                degraded = degrade(photo, kind, level, seed=rng)
            summary = native_level(estimate, degraded, 32)
            per["estimate"].append(summary["median"])
            per["iqr"].append(summary["iqr"][1] - summary["iqr"][0])
            per["psnr_degraded"].append(cpsnr(photo, degraded))
            per["psnr_restored"].append(cpsnr(photo, restorer(degraded)))
        est, deg, res = (np.array(per[k]) for k in ("estimate", "psnr_degraded", "psnr_restored"))
        gain = res - deg
        row = {"level": level, "estimate_median_mean": float(est.mean()),
               "estimate_mae": float(np.abs(est - level).mean()), "tile_iqr_mean": float(np.mean(per["iqr"])),
               "psnr_degraded": float(deg.mean()), "psnr_restored": float(res.mean()),
               "gain_db": float(gain.mean()), "gain_min_db": float(gain.min()),
               "worst_photo": names[int(gain.argmin())], "harmed_share": float((gain < 0).mean())}
        if kind == "jpeg":
            row["file_quality_read_exactly"] = sum(q == level for q in per["file_quality"])
        rows[str(level)] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print(f"{kind} {level:>3}: estimate {row['estimate_median_mean']:6.1f} (MAE {row['estimate_mae']:5.1f}), "
              f"gain {row['gain_db']:+.2f} dB (worst {row['gain_min_db']:+.2f}, harmed "
              f"{row['harmed_share']:.0%})  [{time.perf_counter() - start:.0f} s]", flush=True)
    return rows


def bands(rows: dict, edges) -> dict:
    """MAE of the level estimate per band of levels (mean over the grid levels in the band)."""
    out = {}
    for low, high in edges:
        inside = [r["estimate_mae"] for r in rows.values() if low <= r["level"] <= high]
        if inside:  # a band none of the measured levels falls in is left out
            out[f"{low}-{high}"] = round(float(np.mean(inside)), 2)
    return out


def markdown(result: dict) -> str:
    lines = [f"# Real photos: {result['photos']} BSD100 photos at native resolution (no stage trained on them)", "",
             "Level: median of the estimator over the photo's native 32x32 tiles; MAE = mean |median - true|. "
             "Gain: CPSNR(restored) - CPSNR(degraded), mean over photos; worst photo; share of photos harmed.", ""]
    for kind, unit in (("jpeg", "QF"), ("gaussian", "sigma")):
        part = result[kind]
        lines += [f"## {kind} ({part['run']})", "",
                  f"| {unit} | estimate (mean of medians) | MAE | PSNR degraded | gain dB | worst dB | harmed |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in part["levels"].values():
            lines.append(f"| {r['level']} | {r['estimate_median_mean']:.1f} | {r['estimate_mae']:.1f} | "
                         f"{r['psnr_degraded']:.2f} | {r['gain_db']:+.2f} | {r['gain_min_db']:+.2f} | "
                         f"{r['harmed_share']:.0%} |")
        lines += ["", f"Level MAE per {unit} band: " + ", ".join(f"{b}: {v}" for b, v in part["mae_by_band"].items()),
                  ""]
    return "\n".join(lines + reading(result))


def reading(result: dict) -> list:
    """The page's reading, worded from the numbers above it (none written by hand)."""
    jpeg, noise = list(result["jpeg"]["levels"].values()), list(result["gaussian"]["levels"].values())
    harmed = [r for r in jpeg if r["gain_db"] < 0]
    where = ("on average it harms at " + ", ".join(
        f"QF {r['level']} ({r['gain_db']:+.2f} dB, {r['harmed_share']:.0%} of the photos, "
        f"worst {r['gain_min_db']:+.2f})" for r in harmed)) if harmed else "it never harms on average"
    near_clean = [r for r in jpeg if r["psnr_degraded"] > 45]
    resaved = (f" At QF {', '.join(str(r['level']) for r in near_clean)} the photos come back almost unchanged "
               f"({min(r['psnr_degraded'] for r in near_clean):.0f}+ dB): BSD100 was itself made from JPEG files."
               ) if near_clean else ""
    return ["## Reading", "",
            f"- The JPEG net alone (no quality gate): its output tops out at "
            f"{max(r['psnr_restored'] for r in jpeg):.1f} dB whatever the input; {where}.{resaved} `irdi-restore` "
            "applies only the share of the correction that helps at the file's quality "
            "(`bench/results/restoration_quality_gate.md`).",
            f"- The native level estimate saturates near QF {max(r['estimate_median_mean'] for r in jpeg):.0f}; "
            f"noise: MAE at most {max(r['estimate_mae'] for r in noise):.1f} sigma.",
            f"- The noise net gains {min(r['gain_db'] for r in noise):+.1f} to {max(r['gain_db'] for r in noise):+.1f}"
            f" dB over sigma {noise[0]['level']}-{noise[-1]['level']}; the worst photo "
            f"{min(r['gain_min_db'] for r in noise):+.2f} dB.", ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=str(DATA / "clean" / "BSD100"), help="folder of clean photos")
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    ap.add_argument("--jpeg-run", default=str(SHIPPED_JPEG_RUN))
    ap.add_argument("--noise-run", default=str(SHIPPED_NOISE_RUN))
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="comma-separated JPEG QFs")
    ap.add_argument("--sigmas", default=",".join(map(str, SIGMAS)), help="comma-separated noise sigmas")
    ap.add_argument("--seed", type=int, default=0)
    add_out_option(ap, "real_photos.json")  # and the page beside it, .md
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the JSON at --out")
    args = ap.parse_args(argv)
    if not args.markdown_only and not Path(args.photos).is_dir():
        ap.error(f"--photos: {args.photos} is not a folder (the default needs $IRDI_DATA/clean/BSD100)")
    if args.markdown_only:
        Path(args.out).with_suffix(".md").write_text(markdown(json.loads(Path(args.out).read_text())))
        return 0

    from keras_irdi.tfenv import load_tensorflow

    load_tensorflow()
    from keras_irdi.data.images import IMAGE_EXTENSIONS, load_image

    files = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:args.limit]
    photos, names = [load_image(p) for p in files], [p.name for p in files]
    print(f"{len(photos)} photos from {args.photos}", flush=True)
    info = machine_info()
    result = {"photos": len(photos), "folder": args.photos}
    for kind, run, levels, edges in (("jpeg", args.jpeg_run, args.qualities, QF_BANDS),
                                     ("gaussian", args.noise_run, args.sigmas, SIGMA_BANDS)):
        levels = [int(v) for v in levels.split(",")]
        rows = measure(Path(run), kind, levels, photos, names, args.seed)
        result[kind] = {"run": os.path.relpath(run, REPO), "levels": rows, "mae_by_band": bands(rows, edges)}
    out = Path(args.out)
    write_result(out, result, info, __file__, argv)
    out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
