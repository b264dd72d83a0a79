"""How long must a preset's training take on this CPU, at the least? Each stage's arithmetic against the CPU's peak.

    python experiments/compute_floor/compute_floor.py --preset wide_v2 --degradation jpeg \
        --bench bench/results/precision_avx2.json --ghz 3.5

No kernel does more multiply-adds a second than the CPU's fused multiply-add units: cores x clock x FLOPs a cycle
(two FMA units of 8 float32 lanes with AVX2: 32; with AVX-512: 64). A stage's FLOPs divided by that peak bound its
training time from below, whatever kernel, threading, precision on these units or data pipeline a run uses. For
each stage a preset trains (the weight net aside: it is small), this counts the multiply-adds of one example's
forward pass (Conv2D and Dense layers of the project's own builders at the preset's widths and input size; training
costs about three forward passes: the pass itself, the gradient to the input and to the weights) and the examples
its schedule draws (classifiers: epochs x the CIFAR-10 training split that the committed `wide_v1` run's manifest
records; patch nets: epochs x steps x batch). ``--ghz``: the clock to assume (default: /proc/cpuinfo's, which a
virtual machine may report below its boost clock: give the highest the CPU reaches). ``--bench`` adds what each
network's fit reached in ``bench/precision.py`` on this kind of CPU: the minutes a run would really take, and the
share of the peak it reaches. Appends the record to result.json.
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
MANIFEST = ROOT / "results" / "wide_v1_jpeg_cifar10" / "manifest.json"  # the CIFAR-10 split every preset trains on
TRAIN_PASSES = 3  # forward, gradient to the input, gradient to the weights
BENCH_ROWS = {"restoration": "fit: restoration", "estimator": "fit: estimator", "classifier": "fit: classifier"}


def forward_macs(model, size: int) -> int:
    """Multiply-adds of one example's forward pass through the Conv2D and Dense layers, at ``size`` x ``size``."""
    import keras

    model = keras.models.clone_model(model, input_tensors=keras.Input((size, size, 3)))  # concrete shapes
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            taps = layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1]
            total += height * width * taps * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return total


def peak_gflops(ghz: float) -> tuple[float, int]:
    """This CPU's float32 FMA peak at ``ghz`` (GFLOP/s), and the FLOPs a core does a cycle at most."""
    from keras_irdi.models.precision import cpu_info

    flags = set(Path("/proc/cpuinfo").read_text().split("flags", 1)[1].splitlines()[0].split())
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 16  # 2 units x lanes x 2 (multiply, add)
    return cpu_info()["cores"] * ghz * per_cycle, per_cycle


def reported_ghz() -> float:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1]) / 1000
    raise SystemExit("no clock in /proc/cpuinfo: give --ghz")


def stage_work(preset, train_images: int) -> list[dict]:
    """Per stage: the network's forward multiply-adds per example, its input size, and the examples trained."""
    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net
    from keras_irdi.stage_registry import get_stage, stage_names

    rows = []
    for name in stage_names():
        stage = get_stage(name)
        if name == "weight_net" or (stage.warm_start_only and not preset.warm_start):
            continue
        schedule = preset.schedule(name)
        if stage.trained_on:  # a classifier
            network, size = "classifier", 32
            model = build_classifier(filters=preset.classifier.filters, dense_units=preset.classifier.dense,
                                     dropout=0.0)
        elif name == "restoration":
            network, size, model = name, preset.patches.size, build_restoration_net(preset.restoration.filters)
        else:
            network, size, model = name, preset.patches.size, build_level_estimator(preset.estimator.filters)
        per_epoch = schedule.steps_per_epoch * schedule.batch_size if schedule.steps_per_epoch else train_images
        rows.append(dict(stage=name, network=network, input_size=size,
                         forward_mmacs=round(forward_macs(model, size) / 1e6, 2), examples=schedule.epochs * per_epoch))
    return rows


def bench_rate(bench: dict, network: str, preset) -> float | None:
    """The network's measured fit rate (examples/s, float32) in a bench/precision.py record, if it was measured at the
    preset's widths."""
    widths = "paper" if tuple(preset.classifier.filters) == (64, 128, 256) and preset.restoration.filters == 64 else \
        "small_v1" if tuple(preset.classifier.filters) == (32, 64, 128) and preset.restoration.filters == 32 else None
    for row in bench["rows"]:
        if row["what"] == BENCH_ROWS[network] and row["widths"] == widths:
            return row["float32"]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", required=True)
    ap.add_argument("--degradation", default="jpeg")
    ap.add_argument("--bench", default=None, help="a bench/precision.py JSON measured on this kind of CPU")
    ap.add_argument("--ghz", type=float, default=None, help="the clock to assume (default: /proc/cpuinfo's)")
    args = ap.parse_args()

    from keras_irdi.models.precision import cpu_info
    from keras_irdi.presets import get_preset
    from keras_irdi.tfenv import load_tensorflow

    load_tensorflow()  # the builders need Keras
    preset = get_preset(args.preset).for_degradation(args.degradation)
    train_images = json.loads(MANIFEST.read_text())["data"]["train"]
    ghz = round(args.ghz or reported_ghz(), 3)
    peak, per_cycle = peak_gflops(ghz)
    bench = json.loads(Path(args.bench).read_text()) if args.bench else None
    if bench and bench["machine"].get("family_model") != cpu_info()["family_model"]:
        sys.exit(f"{args.bench} was measured on another CPU ({bench['machine'].get('family_model')}); "
                 "give a bench/precision.py record of this one")
    rows = stage_work(preset, train_images)
    for row in rows:
        flop = TRAIN_PASSES * 2 * row["forward_mmacs"] * 1e6 * row["examples"]
        row["train_pflop"] = round(flop / 1e15, 3)
        row["floor_minutes"] = round(flop / (peak * 1e9) / 60, 1)
        rate = bench_rate(bench, row["network"], preset) if bench else None
        if rate:
            row["bench_float32_per_s"] = rate
            row["bench_float32_minutes"] = round(row["examples"] / rate / 60, 1)
            row["bench_share_of_peak"] = round(TRAIN_PASSES * 2 * row["forward_mmacs"] * 1e6 * rate / 1e9 / peak, 2)
    total = {key: round(sum(r[key] for r in rows), 1) for key in ("floor_minutes", "bench_float32_minutes")
             if all(key in r for r in rows)}
    total["train_pflop"] = round(sum(r["train_pflop"] for r in rows), 3)
    record = dict(preset=args.preset, degradation=args.degradation, train_images=train_images, ghz=ghz,
                  flop_per_cycle_per_core=per_cycle, peak_gflops=round(peak, 1), stages=rows, total=total,
                  bench=args.bench, machine=cpu_info(), command="python " + " ".join(sys.argv),
                  date=time.strftime("%Y-%m-%d"))
    path = HERE / "result.json"
    records = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(records + [record], indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
