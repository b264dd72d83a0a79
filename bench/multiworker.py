#!/usr/bin/env python
"""What two workers cost: writes bench/results/multiworker.json.

One stage (Cla(org) from scratch: the `small` half-width classifier, flip + shift augmentation, batch 128,
the bundled CIFAR-10 subset unless --cifar-dir) trained three ways, each in fresh processes:
  single_fit       one process, the default strategy: Keras fit (fitting.fit_stage), every core
  single_fit_1cpu  the same, pinned to one logical CPU (what each worker below gets)
  one_worker_loop  one process, --strategy multiworker with a one-worker TF_CONFIG: the custom loop
                   (keras_irdi/training/multiworker.py) without a peer, every core
  two_workers      two processes on 127.0.0.1, --strategy multiworker, each pinned to one logical CPU
Images/s = training images / the median epoch time (the first epoch, with tracing, dropped). In the two-worker
run each worker then times the collectives one training step makes (the gradients' all-reduce, with the
model's variable shapes, and the 4-number all-reduce of the step's loss and metric sums): that overhead per
step is the figure that carries over to real machines. Two local workers share this machine's cores, so
they cannot be faster than one process using both; the ratio says what the loop and the collectives cost.
The load average is recorded at start and end: the machine is shared, and other load moves every number.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import add_out_option, machine_info, write_result

HERE = os.path.dirname(os.path.abspath(__file__))


def _preset(images, epochs):
    from keras_irdi.presets import get_preset

    p = get_preset("small")
    p.data.train_limit, p.finetune = images, None
    p.classifier.train.epochs, p.classifier.train.batch_size = epochs, 128
    p.classifier.train.schedule = "constant"
    return p


def worker(args):
    """One process of one mode: train the stage, report epoch times (and, in a cluster, the collectives)."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    from keras_irdi.tfenv import load_tensorflow

    tf = load_tensorflow()
    import numpy as np

    from keras_irdi.runs.config import RunConfig, get_strategy, open_run
    from keras_irdi.training.stages import train_classifier

    config = RunConfig(degradation="jpeg", preset=_preset(args.images, 1 + args.repeats))
    run, config = open_run(args.run_dir, config, data_dir=args.cifar_dir, strategy=args.strategy)
    entry = train_classifier(run, config, "clean")
    out = {"epoch_seconds": entry["epoch_seconds"], "load": entry["load_avg_1min"],
           "train_images": run.manifest()["data"]["train"]}
    if args.strategy == "multiworker":
        strategy = get_strategy("multiworker")
        model = run.load_stage("cla_org")
        shapes = [w.shape for w in model.trainable_weights]
        out["parameters"] = int(sum(np.prod(s) for s in shapes))

        @tf.function
        def collectives():
            def replica():
                ctx = tf.distribute.get_replica_context()
                grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.ones(s) for s in shapes])
                return tf.add_n([tf.reduce_sum(g) for g in grads]) + tf.zeros([4])
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica), axis=None)

        for _ in range(5):
            collectives().numpy()
        start, n = time.perf_counter(), 50
        for _ in range(n):
            collectives().numpy()
        out["collective_ms_per_step"] = round((time.perf_counter() - start) / n * 1000, 2)
    with open(args.report, "w") as f:
        json.dump(out, f)




def launch(mode, args, tmp):
    """Run one mode's process(es); their reports, in task order."""
    tasks = {"single_fit": [None], "single_fit_1cpu": [0], "one_worker_loop": [None], "two_workers": [0, 1]}[mode]
    from keras_irdi.runs.cluster import free_local_ports

    ports = free_local_ports(len(tasks))
    procs, reports = [], []
    for i, cpu in enumerate(tasks):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        strategy = "default"
        if mode not in ("single_fit", "single_fit_1cpu"):
            strategy = "multiworker"
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                           "task": {"type": "worker", "index": i}})
        report = os.path.join(tmp, f"{mode}.{i}.json")
        cmd = [sys.executable, os.path.join(HERE, "multiworker.py"), "--worker", "--run-dir",
               os.path.join(tmp, mode), "--strategy", strategy, "--report", report, "--images", str(args.images),
               "--repeats", str(args.repeats)] + (["--cpu", str(cpu)] if cpu is not None else []) + \
            (["--cifar-dir", args.cifar_dir] if args.cifar_dir else [])
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        reports.append(report)
    started = time.perf_counter()
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise SystemExit(f"{mode}: no result within {args.timeout} s")
        if proc.returncode:
            raise SystemExit(f"{mode} failed:\n{err[-2000:]}")
    wall = time.perf_counter() - started
    return [json.load(open(r)) for r in reports], wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1400, help="CIFAR training images incl. validation (default 1400)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs after the first (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over the four modes, interleaved (default 3)")
    ap.add_argument("--cifar-dir", default=os.environ.get("IRDI_CIFAR_DIR"),
                    help="local CIFAR-10 copy (default: the bundled 1400-image subset)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a mode's processes are killed")
    add_out_option(ap, "multiworker.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.cifar_dir is None:
        from keras_irdi.data.cifar import BUNDLED_CIFAR10

        args.cifar_dir = str(BUNDLED_CIFAR10)
    info = machine_info()
    names = ("single_fit", "single_fit_1cpu", "one_worker_loop", "two_workers")
    runs = {m: [] for m in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # interleaved, so a change in the machine's load hits every mode alike
            folder = os.path.join(tmp, str(r))
            os.makedirs(folder)
            for mode in names:
                reports, wall = launch(mode, args, folder)
                epoch = statistics.median(reports[0]["epoch_seconds"][1:])
                runs[mode].append({"epoch_seconds": reports[0]["epoch_seconds"], "median_epoch_seconds": epoch,
                                   "images_per_s": round(reports[0]["train_images"] / epoch, 1),
                                   "wall_seconds_with_startup": round(wall, 1),
                                   "load_avg_per_epoch": reports[0]["load"],
                                   **({"collective_ms_per_step": [x["collective_ms_per_step"] for x in reports],
                                       "parameters": reports[0]["parameters"]} if mode == "two_workers" else {})})
                print(f"round {r + 1} {mode}: {runs[mode][-1]['images_per_s']} images/s (epoch {epoch:.2f} s)",
                      flush=True)
    modes = {m: {"rounds": runs[m], "images_per_s": [x["images_per_s"] for x in runs[m]],
                 "median_images_per_s": statistics.median(x["images_per_s"] for x in runs[m]),
                 "median_epoch_seconds": statistics.median(x["median_epoch_seconds"] for x in runs[m])}
             for m in names}
    train = reports[0]["train_images"]
    steps = -(-train // 128)
    two, one = modes["two_workers"], modes["single_fit"]
    collectives = [c for x in runs["two_workers"] for c in x["collective_ms_per_step"]]
    result = {
        "stage": "cla_org from scratch, small preset's classifier (32-64-128), batch 128, flip_shift",
        "train_images": train, "steps_per_epoch": steps, "modes": modes,
        "ratio_two_workers_over_single_fit": round(two["median_images_per_s"] / one["median_images_per_s"], 3),
        "ratio_two_workers_over_single_fit_1cpu": round(
            two["median_images_per_s"] / modes["single_fit_1cpu"]["median_images_per_s"], 3),
        "ratio_loop_over_fit_one_process": round(
            modes["one_worker_loop"]["median_images_per_s"] / one["median_images_per_s"], 3),
        "step_ms_two_workers": round(two["median_epoch_seconds"] / steps * 1000, 1),
        "step_ms_single_fit": round(one["median_epoch_seconds"] / steps * 1000, 1),
        "collective_ms_per_step": statistics.median(collectives),
        "collective_ms_per_step_all": collectives,
        "reading": ("Two local workers share this machine's cores (one pinned to each), so they do not speed "
                    "anything up: the ratio measures the loop's and the collectives' cost, not a scaling. What "
                    "carries over to real machines is the collective overhead per step (gradients' all-reduce "
                    "over 127.0.0.1 plus the step's loss sums), to be set against a step's compute there; the "
                    "machine is shared, see the load averages."),
    }
    write_result(args.out, result, info, __file__, argv)
    print(f"two workers / one process: {result['ratio_two_workers_over_single_fit']}; collectives "
          f"{result['collective_ms_per_step']} ms per step of {result['step_ms_two_workers']} ms; wrote {args.out}")


if __name__ == "__main__":
    main()
