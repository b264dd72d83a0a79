"""Probe: at the paper's widths, what makes the clean base better: another step, more epochs, batch norm?

    python experiments/wide_classifier_probe/wide_classifier_probe.py --cifar-dir DATA --out DIR \
        --tag lr0.003 --learning-rate 0.003

`wide_v1` trains its base (`cla_base`, 64-128-256, bfloat16) with `small`'s schedule, tuned on the half-width
net: Adamax peaking at 0.006, batch 128, 14 epochs. Adam-type optimisers usually want a smaller step as the
width grows (the hidden layers' fan-in doubles), so 0.006 may be too large at twice the width. The base ends
underfitting, so the other candidates are a longer schedule (``--epochs``, the cosine stretched to it), batch
normalisation after every conv (``--batchnorm``, which the paper's net has not), which learns faster per epoch,
and the paper's dropout (``--dropout 0.5``; `small` dropped it) against the overfitting a longer schedule brings.
This trains `cla_base` alone in a fresh run directory with those changes to `wide_v1` and appends its validation
curve, epoch times and CPU to wide_classifier_probe.json beside this script (the reference: the committed seed-0
run's `logs/cla_base.csv`).
"""
import argparse
import csv
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from keras_irdi.presets import PRESETS  # noqa: E402

HERE = Path(__file__).resolve().parent


def _read_run(run: Path) -> dict:
    """The probe's curve and times from its run directory, whether or not the stage finished: epoch ends are the
    TensorBoard event times (the CSV log has none), counted from the training writer's creation."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    rows = list(csv.DictReader(open(run / "logs" / "cla_base.csv")))
    manifest = json.loads((run / "manifest.json").read_text())
    events = sorted((run / "logs" / "tb" / "cla_base" / "train").glob("events.out.tfevents.*"))
    records = (event_pb2.Event.FromString(r.numpy()) for f in events for r in tf.data.TFRecordDataset(str(f)))
    ends = sorted({e.wall_time for e in records for v in e.summary.value if v.tag == "epoch_accuracy"})
    start = int(events[0].name.split(".")[3])
    from keras_irdi.models.precision import cpu_info

    info = cpu_info()
    cpu, flags = info["cpu"], info["bf16_flags"] + (["avx512f"] if info["avx512"] else [])
    epochs = manifest["config"]["preset"]["classifier"]["train"]["epochs"]
    return dict(precision=manifest["config"]["precision"], cpu=cpu, cpu_flags=flags,
                epochs_done=len(rows), epochs=epochs, complete=len(rows) == epochs,
                val_accuracy=[round(float(r["val_accuracy"]), 4) for r in rows],
                train_accuracy=[round(float(r["accuracy"]), 4) for r in rows],
                epoch_seconds=[round(b - a, 1) for a, b in zip([start] + ends, ends)],
                load_avg=open("/proc/loadavg").read().split()[:3], date=time.strftime("%Y-%m-%d"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar-dir")
    ap.add_argument("--out", required=True, help="a fresh run directory (outside git)")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--learning-rate", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="the base's epochs (wide_v1: 14)")
    ap.add_argument("--batchnorm", action="store_true", help="batch norm after every conv (not the paper's)")
    ap.add_argument("--dropout", type=float, default=None, help="wide_v1: 0 (small's); the paper's: 0.5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record-from", action="store_true",
                    help="train nothing: record what the run in --out trained so far (a probe stopped early)")
    ap.add_argument("--precision", default=None,
                    help="override wide_v1's bfloat16, e.g. float32 on a CPU without bf16 units (then also run "
                         "the unchanged recipe as the reference)")
    args = ap.parse_args()

    wide = PRESETS["wide_v1"]
    train = wide.classifier.train
    change = {k: v for k, v in (("learning_rate", args.learning_rate), ("batch_size", args.batch_size),
                                ("epochs", args.epochs)) if v is not None}
    name = f"wide_probe_{args.tag}"
    net = {"dropout": args.dropout} if args.dropout is not None else {}
    PRESETS[name] = dataclasses.replace(wide, name=name, classifier=dataclasses.replace(
        wide.classifier, train=dataclasses.replace(train, **change), **net))

    if not args.record_from:
        import keras_irdi.models
        from keras_irdi.commands import train as train_command

        if args.batchnorm:  # the stage imports the builder from keras_irdi.models when it runs
            keras_irdi.models.build_classifier = functools.partial(keras_irdi.models.build_classifier, batchnorm=True)
        train_command.main(["--run-dir", args.out, "--preset", name, "--stage", "cla_base", "--seed",
                            str(args.seed), "--cifar-dir", args.cifar_dir]
                           + (["--precision", args.precision] if args.precision else []))
    change.update(net, **({"batchnorm": True} if args.batchnorm else {}))
    record = dict(tag=args.tag, change=change, seed=args.seed, **_read_run(Path(args.out)))
    path = HERE / "wide_classifier_probe.json"
    results = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(results + [record], indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
