"""Weight-net variants on one run's frozen sub-models: which one earns Proposed a significant lead?

    python bench/weight_net_ablation.py --cifar-dir DATA --cache-dir CACHE [--degradations jpeg gaussian blur]

For each degradation it first caches every frozen sub-model's output on the held-out images over the level
grid (``CACHE/<degradation>.npz``, from the shipped ``models/small_<degradation>_cifar10``; a few minutes,
skipped when the file exists), then trains and scores the variants on the cache.

Variants (the issue's a-d): (a) the run's own weight net (the paper's: level only, trained on the
classifiers' training images); the others are trained on held-out images at every grid level:
(b) level only; (c) level + the members' confidence (top probability, entropy) or their full probability
vectors; (d) three members, Seq(org), Seq(res) and Cla(deg), from the level (and confidence).

Held-out images: the run's validation split (no stage trained on it) and its test images. The variants are
cross-fitted: the validation split is cut in two folds; a net trained on one fold scores the other fold's
images and the test images (a test image's score is the mean of the two folds' nets), so every image of
the pool is scored by nets that never saw it, and the comparison rests on validation + test images
instead of the test images alone. Each network's full-range mean is the mean over the level grid
(``GRID_STEP``: every 3rd level of the sweep grid; every level for noise, where each level is a fresh noise
draw per image, so more levels shrink the interval); the lead over every single network gets a 95 % paired bootstrap CI
over images (keras_irdi.reporting.confidence's rule).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_irdi import tfenv  # noqa: E402,F401  (quiet TensorFlow import)
from keras_irdi.reporting.confidence import paired_ci  # noqa: E402

SINGLES = ("cla_org", "cla_deg", "seq_org", "seq_res", "ens_cla")
CACHED = ("cla_org", "cla_deg", "seq_org", "seq_res", "proposed")
GRID_STEP = {"jpeg": 3, "gaussian": 1, "blur": 3}
VARIANTS = {  # name -> (members, features)
    "b_level": (("seq_org", "seq_res"), "level"),
    "c_confidence": (("seq_org", "seq_res"), "confidence"),
    "c_probabilities": (("seq_org", "seq_res"), "probabilities"),
    "d_level": (("seq_org", "seq_res", "cla_deg"), "level"),
    "d_confidence": (("seq_org", "seq_res", "cla_deg"), "confidence"),
}


def cache_outputs(run_dir, cifar_dir, out, step, batch_size=500):
    """Every sub-model's output on the run's validation + test images at every ``step``-th grid level."""
    from keras_irdi.data.cifar import load_cifar
    from keras_irdi.degradations import degrade, get_degradation
    from keras_irdi.models.forward import SharedForward
    from keras_irdi.runs.config import RunConfig
    from keras_irdi.runs.directory import RunDir

    run = RunDir(run_dir)
    config = RunConfig.from_dict(run.manifest()["config"])
    deg = get_degradation(config.degradation)
    data = load_cifar(config.dataset, cifar_dir=cifar_dir)
    n_val = int(round(len(data["x_train"]) * config.preset.data.val_fraction))
    x = np.concatenate([data["x_train"][-n_val:], data["x_test"]])
    y = np.concatenate([data["y_train"][-n_val:], data["y_test"]]).reshape(-1)
    split = np.array(["val"] * n_val + ["test"] * len(data["x_test"]))
    forward = SharedForward(run.load_stages("restoration", "estimator", "cla_org", "cla_deg", "cla_res", "weight_net"))
    levels = deg.sweep_levels(step).astype(np.float64)
    probs = {m: np.empty((len(levels), len(x), 10), np.float16) for m in CACHED}
    est = np.empty((len(levels), len(x)), np.float32)
    start = time.time()
    for i, level in enumerate(levels):
        degraded = degrade(x, config.degradation, level, seed=1000 + i)
        for b in range(0, len(x), batch_size):
            outputs = forward(degraded[b:b + batch_size])
            for m in CACHED:
                probs[m][i, b:b + batch_size] = outputs[m]
            est[i, b:b + batch_size] = outputs["level"]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, levels=levels, y=y, split=split, level_est=est, degradation=config.degradation,
                        seconds=time.time() - start, **{f"p_{m}": probs[m] for m in CACHED})
    print(f"cached {out} in {(time.time() - start) / 60:.1f} min", flush=True)


def train_variant(members, features, level, probs, y, unit, seed, epochs, hidden=(16, 16)):
    """A weight net trained inside Proposed's tail on cached member outputs (as train/ensemble.py does)."""
    import keras

    from keras_irdi.models import build_weight_net
    from keras_irdi.models.composites import proposed_tail

    keras.utils.set_random_seed(seed)
    net = build_weight_net(unit=unit, hidden=hidden, members=members, features=features)
    tail = proposed_tail(net)
    tail.compile(optimizer=keras.optimizers.Adamax(0.002), loss="sparse_categorical_crossentropy")
    tail.fit([level, probs], y, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
    return net


def mix(net, level, probs):
    from keras_irdi.models.weights import needs_member_probs

    w = net.predict([level, probs] if needs_member_probs(net) else level, batch_size=8192, verbose=0)
    return np.einsum("nm,nmc->nc", w, probs), w


def ablate(cache_path, seed, epochs):
    from keras_irdi.degradations import get_degradation
    from keras_irdi.models.composites import MaxConfidence

    c = np.load(cache_path)
    deg = get_degradation(str(c["degradation"]))
    levels, y, split = c["levels"], c["y"].astype(np.int64), c["split"]
    L, n = c["level_est"].shape
    p = {m: c[f"p_{m}"].astype(np.float32) for m in CACHED}
    p["ens_cla"] = np.asarray(MaxConfidence()([p["cla_org"], p["cla_deg"]]))  # Ens(Cla)'s rule, from the layer
    correct = {k: (v.argmax(-1) == y[None, :]) for k, v in p.items()}  # (L, n)
    correct["a_paper"] = correct.pop("proposed")
    # Per-level better of Seq(org) and Seq(res), chosen on the pool itself: a bound, not a network.
    better = np.where(correct["seq_org"].mean(1, keepdims=True) >= correct["seq_res"].mean(1, keepdims=True),
                      correct["seq_org"], correct["seq_res"])

    val = np.flatnonzero(split == "val")
    test = np.flatnonzero(split == "test")
    rng = np.random.default_rng(seed)
    folds = np.array_split(rng.permutation(val), 2)
    est = c["level_est"][..., None].astype(np.float32)  # (L, n, 1)

    def flat(idx, members):
        lv = est[:, idx].reshape(-1, 1)
        pr = np.stack([p[m][:, idx] for m in members], axis=2).reshape(-1, len(members), 10)
        return lv, pr

    trained = {}
    weights_log = {}
    for name, (members, features) in VARIANTS.items():
        start = time.time()
        score = np.zeros((L, n))
        w_sum = np.zeros((L, len(members)))
        for k, fold in enumerate(folds):
            lv, pr = flat(fold, members)
            net = train_variant(members, features, lv, pr, np.tile(y[fold], L), deg.unit, seed * 10 + k, epochs)
            others = np.concatenate([folds[1 - k], test])
            lv, pr = flat(others, members)
            mixed, w = mix(net, lv, pr)
            right = (mixed.argmax(-1) == np.tile(y[others], L)).reshape(L, len(others))
            share = np.where(np.isin(others, test), 0.5, 1.0)  # test images are scored by both folds' nets
            score[:, others] += right * share
            w_sum += (w.reshape(L, len(others), -1) * share[None, :, None]).sum(1)
        correct[name] = score
        weights_log[name] = {"members": list(members), "mean_weights_per_level": (w_sum / n).round(4).tolist()}
        trained[name] = round(time.time() - start, 1)
        print(f"  {deg.name} {name}: {correct[name].mean():.4f} ({trained[name]} s)", flush=True)

    per_image = {k: v.mean(0) for k, v in correct.items()}  # full-range score of each image
    singles_best = max(SINGLES, key=lambda k: per_image[k].mean())
    rows = []
    for name in ("a_paper", *VARIANTS):
        leads = {other: paired_ci(per_image[name] - per_image[other]) for other in SINGLES}
        worst = min(leads, key=lambda o: leads[o][1])
        intervals = {f"{lo:g}-{hi:g}": float(correct[name][(levels >= lo) & (levels <= hi)].mean())
                     for lo, hi in deg.intervals}
        rows.append({"variant": name, "members": weights_log.get(name, {"members": ["seq_org", "seq_res"]})["members"],
                     "features": VARIANTS.get(name, (None, "level"))[1],
                     "trained_on": "classifiers' training images" if name == "a_paper" else "held-out (cross-fitted)",
                     "full_range_mean": float(per_image[name].mean()),
                     "lead_over_best_single": leads[singles_best], "best_single": singles_best,
                     "lead_over_each": leads, "weakest_rival": worst,
                     "significant_over_every_single": all(v[1] > 0 for v in leads.values()),
                     "minus_a_paper": paired_ci(per_image[name] - per_image["a_paper"]),
                     "minus_b_level": paired_ci(per_image[name] - per_image["b_level"]),
                     "interval_means": intervals})
    return {"degradation": deg.name, "n_images": int(n), "n_val": int(len(val)), "n_test": int(len(test)),
            "levels": levels.tolist(), "seed": seed, "epochs": epochs,
            "singles": {k: float(per_image[k].mean()) for k in SINGLES},
            "singles_interval_means": {k: {f"{lo:g}-{hi:g}": float(correct[k][(levels >= lo) & (levels <= hi)].mean())
                                           for lo, hi in deg.intervals} for k in SINGLES},
            "better_of_seq_bound": float(better.mean()),
            "better_of_seq_bound_minus_best_single": paired_ci(better.mean(0) - per_image[singles_best]),
            "variants": rows, "weights": weights_log, "train_seconds": trained}


NAMES = {"a_paper": "(a) paper: level, classifiers' training images (the run's own net)",
         "b_level": "(b) level, held-out images", "c_confidence": "(c) level + confidence, held-out",
         "c_probabilities": "(c') level + probabilities, held-out",
         "d_level": "(d) 3 members, level, held-out", "d_confidence": "(d') 3 members, level + confidence, held-out"}


def _ci(t):
    return f"{t[0]:+.4f} [{t[1]:+.4f}, {t[2]:+.4f}]"


def markdown(doc) -> str:
    """One table per degradation, one row per variant, one column group per seed."""
    from keras_irdi.network_ids import display_names, NETWORKS

    out = ["# Weight-net ablation", "",
           "Pool: the run's validation split (no stage trained on it) + its test images, every 3rd level of the "
           "sweep grid (every level for noise); variants (b)-(d) cross-fitted on two folds of the validation split (each image scored by "
           "nets that never saw it). Lead: full-range mean minus the network's, 95 % paired bootstrap CI over "
           "images (2000 resamples). 'vs every single' holds when each of the five single networks' CI lower bound "
           "is above 0. Seed: the fold split and the weight nets' initialisation; the frozen sub-models are the "
           "shipped ones (one training seed).", ""]
    by_deg = {}
    for r in doc["results"]:
        by_deg.setdefault(r["degradation"], []).append(r)
    for deg, runs in by_deg.items():
        names = dict(zip(NETWORKS, display_names(deg)))
        first = runs[0]
        out += [f"## {deg} ({first['n_val']} validation + {first['n_test']} test images, levels "
                f"{first['levels'][0]:g}..{first['levels'][-1]:g}, {len(first['levels'])} grid levels)", "",
                f"Made by `{first['command']}`.", "",
                "Single networks, full-range mean: " + ", ".join(
                    f"{names[k]} {v:.4f}" for k, v in first["singles"].items()) +
                f". Per-level better of Seq(org)/Seq(res) (a bound, chosen on the pool): {first['better_of_seq_bound']:.4f}"
                f" ({_ci(first['better_of_seq_bound_minus_best_single'])} over the best single network).", "",
                "| variant | seed | full range | lead over best single (" + names[first["variants"][0]["best_single"]]
                + ") | weakest lead over a single network | vs every single | minus (a) | minus (b) |",
                "|---|---:|---:|---|---|:---:|---|---|"]
        for i, v in enumerate(first["variants"]):
            for r in runs:
                row = r["variants"][i]
                out.append(f"| {NAMES[row['variant']]} | {r['seed']} | {row['full_range_mean']:.4f} | "
                           f"{_ci(row['lead_over_best_single'])} | {names[row['weakest_rival']]} "
                           f"{_ci(row['lead_over_each'][row['weakest_rival']])} | "
                           f"{'yes' if row['significant_over_every_single'] else 'no'} | "
                           f"{_ci(row['minus_a_paper']) if row['variant'] != 'a_paper' else ''} | "
                           f"{_ci(row['minus_b_level']) if row['variant'] not in ('a_paper', 'b_level') else ''} |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar-dir", required=True, help="CIFAR-10 copy (the runs' validation and test images)")
    ap.add_argument("--cache-dir", required=True, help="where the sub-models' outputs are cached")
    ap.add_argument("--models", default="models", help="folder of the shipped small_<degradation>_cifar10 runs")
    ap.add_argument("--degradations", nargs="+", default=list(GRID_STEP), choices=list(GRID_STEP))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="bench/results/weight_net_ablation.json")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the JSON")
    args = ap.parse_args()
    out = Path(args.out)
    if args.render:
        out.with_suffix(".md").write_text(markdown(json.loads(out.read_text())) + "\n")
        return
    # One file for every degradation: rerunning some replaces theirs and keeps the others.
    kept = [r for r in (json.loads(out.read_text())["results"] if out.is_file() else [])
            if r["degradation"] not in args.degradations]
    command = ("python bench/weight_net_ablation.py --cifar-dir DATA --cache-dir CACHE --degradations "
               f"{' '.join(args.degradations)} --seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}")
    results = []
    for deg in args.degradations:
        cache = Path(args.cache_dir) / f"{deg}.npz"
        if not cache.is_file():
            cache_outputs(Path(args.models) / f"small_{deg}_cifar10", args.cifar_dir, cache, GRID_STEP[deg])
        results += [dict(ablate(cache, seed, args.epochs), command=command) for seed in args.seeds]
    order = {d: i for i, d in enumerate(GRID_STEP)}
    results = sorted(kept + results, key=lambda r: (order[r["degradation"]], r["seed"]))
    doc = {"results": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text(markdown(doc) + "\n")
    print(f"wrote {out} and its .md")


if __name__ == "__main__":
    main()
