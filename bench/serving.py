#!/usr/bin/env python
"""Throughput of the exported Proposed network: the SavedModel against its sub-models, and the same network
in each serving backend, in one run: writes bench/results/serving.json.

Random-weight stages at the 'small' preset's widths (timing does not depend on the weights) are saved as a
run, exported with keras_irdi.serving.export as a SavedModel and as ONNX, and timed on the first --n real
CIFAR-10 test images (JPEG QF 30), in batches:
  serving   the SavedModel's serving_default signature (uint8 in, dict out), batches of the first
            --batch-sizes
  sum       each sub-model Proposed needs, run once on the same batches: restoration, estimator, weight net,
            cla_org and cla_res on the restored batch
  backends  the same images at each --batch-sizes through each backend installed:
              tf_savedmodel  serving_default of tf.saved_model.load (what TF Serving runs)
              onnxruntime    classify.onnx in onnxruntime's CPU provider
              openvino       classify.onnx compiled by OpenVINO for the CPU at float32 (its default on a CPU
                             with bf16 units is bfloat16, which moves the probabilities by ~1e-3)
            each with its largest difference from tf_savedmodel's probabilities (parity)
Ratio serving/sum (goal <= 1.1: the export restores once and adds almost nothing around the sub-models).
The backends take turns within each repeat, so a change in the machine's load falls on all of them.
"""
import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import add_run_options, build_stages, cifar_images, machine_info, require_positive, timed, write_result


def backends(serving, onnx_file: Path | None) -> dict:
    """{name: function uint8 batch -> probabilities} of every backend installed here (the ONNX ones when
    the export could be written: tf2onnx is installed)."""
    import tensorflow as tf

    out = {"tf_savedmodel": lambda b: serving(images=tf.constant(b))["probabilities"].numpy()}
    if onnx_file and importlib.util.find_spec("onnxruntime"):
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        out["onnxruntime"] = lambda b: session.run(["probabilities"], {"images": b})[0]
    if onnx_file and importlib.util.find_spec("openvino"):
        import openvino

        compiled = openvino.Core().compile_model(str(onnx_file), "CPU",
                                                 {"INFERENCE_PRECISION_HINT": "f32"})
        probabilities = compiled.output("probabilities")
        out["openvino"] = lambda b: compiled({"images": b})[probabilities]
    return out


def library_versions(names) -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in names if name != "tf_savedmodel"}


def rates(times: list, n: int) -> dict:
    med = statistics.median(times)
    return {"seconds": [round(t, 4) for t in times], "median_seconds": round(med, 4),
            "images_per_second": round(n / med, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[250, 1],
                    help="request batch sizes (default 250 1); serving and sum use the first")
    ap.add_argument("--preset", default="small", help="preset whose network widths are used")
    add_run_options(ap, "serving.json", repeats=5, images=(1000, "test"))
    args = ap.parse_args(argv)
    require_positive(ap, args, "n", "repeats")
    import tensorflow as tf

    from keras_irdi.runs.directory import RunDir
    from keras_irdi.runs.provenance import SCHEMA_VERSION
    from keras_irdi.data.cifar import CLASS_NAMES
    from keras_irdi.degradations import degrade
    from keras_irdi.serving.export import export_serving

    info = machine_info()
    x = degrade(cifar_images(ap, args, "test")["x_test"], "jpeg", 30)
    split = {size: [x[i:i + size] for i in range(0, len(x), size)] for size in args.batch_sizes}
    batches = split[args.batch_sizes[0]]
    stages = build_stages(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        for name, model in stages.items():
            run.save_stage(name, model, config={}, export=False)
        run.update_manifest(schema_version=SCHEMA_VERSION, config={"degradation": "jpeg", "dataset": "cifar10"},
                            class_names=CLASS_NAMES["cifar10"], input_size=32)
        path = export_serving(run.path, Path(tmp) / "export", "proposed")
        onnx_file = export_serving(run.path, Path(tmp) / "export", "proposed", fmt="onnx") / "classify.onnx" \
            if importlib.util.find_spec("tf2onnx") else None
        serving = tf.saved_model.load(str(path)).signatures["serving_default"]
        runners = backends(serving, onnx_file)

        def serve():
            return [serving(images=tf.constant(b)) for b in batches]

        def sub_models():
            total = 0.0
            for b in batches:
                xb = b.astype(np.float32) / 255.0
                restored, t = timed(stages["restoration"].predict_on_batch, xb)
                level, t2 = timed(stages["estimator"].predict_on_batch, xb)
                total += t + t2
                total += timed(stages["weight_net"].predict_on_batch, level)[1]
                total += timed(stages["cla_org"].predict_on_batch, restored)[1]
                total += timed(stages["cla_res"].predict_on_batch, restored)[1]
            return total

        def through(run_batch, size):
            return [run_batch(b) for b in split[size]]

        serve(), sub_models()  # warm-up: traces every function
        reference = np.concatenate(through(runners["tf_savedmodel"], args.batch_sizes[0]))
        parity = {name: float(np.abs(np.concatenate(through(fn, args.batch_sizes[0])) - reference).max())
                  for name, fn in runners.items()}  # also the backends' warm-up
        times = {"serving": [], "sum": []}
        backend_times = {(name, size): [] for name in runners for size in args.batch_sizes}
        for _ in range(args.repeats):
            times["serving"].append(timed(serve)[1])
            times["sum"].append(sub_models())
            for (name, size), seconds in backend_times.items():
                seconds.append(timed(through, runners[name], size)[1])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = round(med["serving"] / med["sum"], 3)
    info.update(library_versions(runners))
    write_result(args.out, {
        "benchmark": "serving", "preset_widths": args.preset, "n_images": len(x), "batch_size": args.batch_sizes[0],
        "repeats": args.repeats, "results": {k: rates(v, len(x)) for k, v in times.items()},
        "ratios": {"serving_over_sum": ratio}, "goals": {"serving_over_sum": "<= 1.1"},
        "backends": {name: {str(size): rates(backend_times[name, size], len(x)) for size in args.batch_sizes}
                     for name in runners},
        "parity_max_abs_probability_difference_from_tf_savedmodel": parity}, info, __file__, argv)
    print(f"serving: {len(x)} images, SavedModel {len(x) / med['serving']:.0f} img/s, sub-models "
          f"{len(x) / med['sum']:.0f} img/s, serving/sum {ratio:.2f} (goal <= 1.1) -> {args.out}")
    for name in runners:
        print(f"  {name:14s} " + ", ".join(
            f"batch {size}: {len(x) / statistics.median(backend_times[name, size]):.0f} img/s"
            for size in args.batch_sizes) + f"; max |p - p_tf| {parity[name]:.1e}")


if __name__ == "__main__":
    sys.exit(main())
