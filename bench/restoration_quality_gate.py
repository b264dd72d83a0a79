"""Does the quality gate keep the JPEG restoration net from ever harming, and what does it cost at QF 10?

    python bench/restoration_quality_gate.py --cifar-dir DATA --clean-dir CLEAN

The gate (``keras_irdi.training.quality_gate``, what a `small_v1` run fits after training its restoration net)
is fitted here for the shipped `small` JPEG net: on the CIFAR validation split and T91's photos (clean, and
saved twice at one quality), the photos the release runs pass as ``--clean-dir``. For contrast, a gate fitted on
the validation split alone. Both are measured, as `irdi-restore` applies them (quality read from the degraded
pixels' DCT lattice, the share applied, the result rounded to 8 bits), on the 1000 CIFAR test images and on
BSD100 and Urban100 at native resolution, never seen by the net or the fit. CLEAN holds T91/, BSD100/,
Urban100/. Writes bench/results/restoration_quality_gate.{json,md}. --limit and --qualities make the tiny run of
the tests.
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import REPO, SHIPPED_JPEG_RUN, add_out_option, machine_info, write_result
from keras_irdi import tfenv  # noqa: F401  (quiet TensorFlow import)

QFS = (5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 92, 95, 97, 98, 99, 100)
SHOWN = (10, 50, 70, 80, 85, 90, 92, 95, 97, 98, 100)
RECIPE = "validation + T91"  # the gate a small_v1 run fits (with --clean-dir T91)
FILE = "validation + T91, JPEG file"


def psnr_gain(clean, degraded, output):
    mse = lambda a: np.mean((clean.astype(np.float64) - a.astype(np.float64)) ** 2)  # noqa: E731
    return 10 * np.log10(max(mse(degraded), 1e-6) / max(mse(output), 1e-6))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar-dir", required=True)
    ap.add_argument("--clean-dir", required=True, help="folder holding T91/, BSD100/ and Urban100/")
    ap.add_argument("--run-dir", default=str(SHIPPED_JPEG_RUN), help="run directory (default: the shipped JPEG run)")
    ap.add_argument("--qualities", default=",".join(map(str, QFS)), help="comma-separated QFs measured")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set (default all)")
    add_out_option(ap, "restoration_quality_gate.json")  # and the page beside it, .md
    args = ap.parse_args(argv)

    import keras_irdi.models  # noqa: F401  (registers the patch nets' layers)
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.data.images import load_image_folder
    from keras_irdi.data.jpeg_quality import quality_from_pixels
    from keras_irdi.degradations import degrade
    from keras_irdi.models.restoration_gate import alpha_for, gate_quality
    from keras_irdi.presets import get_preset
    from keras_irdi.runs.directory import RunDir
    from keras_irdi.training.quality_gate import fit_quality_gate

    start = time.time()
    run = RunDir(args.run_dir)
    net = run.load_stage("restoration")
    data = load_cifar("cifar10", cifar_dir=args.cifar_dir)
    n_val = int(round(len(data["x_train"]) * 0.05))  # the runs' validation split (data.val_fraction)
    val, test = data["x_train"][-n_val:], data["x_test"][:args.limit]
    clean = Path(args.clean_dir)
    t91, bsd, urban = (load_image_folder(clean / name)[:args.limit] for name in ("T91", "BSD100", "Urban100"))

    step = get_preset("small_v1").restoration.quality_gate_step
    shipped = run.quality_gate()  # the gate the run fitted after training its net, as irdi-restore applies it
    gates = {RECIPE: shipped if shipped is not None else fit_quality_gate(net, val, t91, step=step, report=print)}
    fit_seconds = time.time() - start
    gates["validation only"] = fit_quality_gate(net, val, step=step)
    print(f"fitted in {fit_seconds:.0f} s", flush=True)

    def restored(image):  # float 0..1, the whole image at once (what irdi-restore's tiles add up to)
        return np.asarray(net(image[None].astype(np.float32) / 255.0, training=False))[0]

    def measure(images, q):
        degraded = list(degrade(np.stack(images), "jpeg", q)) if images[0].shape[0] == 32 \
            else [degrade(im[None], "jpeg", q)[0] for im in images]
        # The net as trained; the recipe's gate as irdi-restore applies it to the JPEG file (its quality q,
        # unless, above QF 50, the pixels show a coarser one: saved again, left as it is) and each gate as it
        # applies it to a PNG of the decoded JPEG (the quality the pixels show, else none: left as it is).
        rows = {"net": [], **{name: [] for name in gates}, FILE: []}
        found = []
        for c, d in zip(images, degraded):
            r = restored(d)
            x = d.astype(np.float32) / 255.0
            quality = quality_from_pixels(d)
            found.append(quality)
            for name in rows:
                share = 1.0 if name == "net" else alpha_for(gates[RECIPE], gate_quality(quality, q)) \
                    if name == FILE else alpha_for(gates[name], gate_quality(quality, None))
                out = np.clip(np.round((x + share * (r - x)) * 255), 0, 255)
                rows[name].append(psnr_gain(c, d, out))
        out = {"qf": q, "images": len(images), "quality_read_exact": round(float(np.mean([f == q for f in found])), 3),
               "quality_none": round(float(np.mean([f is None for f in found])), 3)}
        for name, g in rows.items():
            g = np.array(g)
            out[name] = {"gain_db": round(float(g.mean()), 3), "worst_db": round(float(g.min()), 3),
                         "harmed_share": round(float((g < -0.01).mean()), 3)}
        return out

    info = machine_info()
    result = {"run_dir": os.path.relpath(args.run_dir, REPO),
              "gate": "the run's" if shipped is not None else "fitted here",
              "fit_seconds": round(fit_seconds, 1),
              "reference_quality": {name: [quality_from_pixels(im) for im in ims]
                                    for name, ims in (("BSD100", bsd), ("Urban100", urban))},
              "alpha": {name: {str(q): alpha_for(g, q) for q in range(1, 101)} for name, g in gates.items()},
              "cifar_test": [], "bsd100": [], "urban100": []}
    for key, images in (("cifar_test", list(test)), ("bsd100", bsd), ("urban100", urban)):
        for q in (int(v) for v in args.qualities.split(",")):
            result[key].append(measure(images, q))
            print(key, json.dumps(result[key][-1]), flush=True)
    result["seconds"] = round(time.time() - start, 1)
    out = Path(args.out)
    write_result(out, result, info, __file__, argv)
    write_markdown(json.loads(out.read_text()), out.with_suffix(".md"))
    print(f"wrote {out} in {result['seconds'] / 60:.1f} min")


def write_markdown(result, path):
    names = list(result["alpha"])
    columns = ["net", FILE, *[n for n in names]]
    heads = {"net": "net as trained", FILE: "gate, JPEG file", RECIPE: "gate, PNG of it",
             "validation only": "gate fitted on the validation split alone (PNG)"}
    lines = [f"# The JPEG restoration net with a quality gate ({result['run_dir']})", "",
             f"Made by `{result['command']}`; the gate: {result['gate']}.", "",
             "Mean CPSNR gain (dB) of the net as trained and with the share of its residual chosen by the image's "
             "JPEG quality (8-bit output, as `irdi-restore` writes it); worst image and share of images harmed "
             "(< -0.01 dB). The gate is `small_v1`'s: fitted on the CIFAR validation split and on T91's photos, "
             "clean and saved twice at QF 85-98 (the release runs' `--clean-dir`). The share is chosen as "
             "`irdi-restore` chooses it: for the JPEG file, by its quality (above QF 50, left alone when its "
             "pixels show an earlier, coarser one); for a PNG of the decoded image, by the quality its DCT lattice "
             "shows (none: left alone). For contrast, a gate fitted on the validation split alone. No image "
             "measured here was seen by the net or a fit.", "",
             "| share of the residual at QF | " + " | ".join(str(q) for q in SHOWN) + " |",
             "|---|" + "---:|" * len(SHOWN)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{result['alpha'][name][str(q)]:.2f}" for q in SHOWN) + " |")
    lines.append("")
    titles = {"cifar_test": "CIFAR-10 test images (1000, 32x32)", "bsd100": "BSD100 (100 photos, native resolution)",
              "urban100": "Urban100 (30 photos, native resolution)"}
    for key, title in titles.items():
        if not result[key]:
            continue
        lines += [f"## {title}", "", "| QF | quality read from pixels | " + " | ".join(
            f"{heads[c]} | worst | harmed" for c in columns) + " |", "|---:|---:|" + "---:|---:|---:|" * len(columns)]
        for r in result[key]:
            cells = []
            for c in columns:
                cells += [f"{r[c]['gain_db']:+.3f}", f"{r[c]['worst_db']:+.2f}", f"{r[c]['harmed_share']:.1%}"]
            lines.append(f"| {r['qf']} | {r['quality_read_exact']:.1%} | " + " | ".join(cells) + " |")
        lines.append("")
    from collections import Counter

    lines += ["The references' own pixels read as JPEG: " + "; ".join(
        f"{name}: " + ", ".join(f"QF {q} x{n}" if q else f"none x{n}" for q, n in Counter(qs).most_common())
        for name, qs in result["reference_quality"].items()) + ".", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
