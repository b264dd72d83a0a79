"""Classify image files with a trained run or an exported SavedModel.

    python -m keras_irdi.serving.predict RUN_OR_SAVEDMODEL IMG [IMG ...] [--top-k 3] [--json]
                                 [--degrade jpeg:10|gaussian:25] [--model proposed] [--seed 0]

RUN_OR_SAVEDMODEL is one of
- a run directory (has manifest.json): the network is assembled from its stages in this process;
- a SavedModel written by ``keras_irdi.serving.export`` (has saved_model.pb): its ``serving_default`` is used;
- the model folder above the version folders (``DIR/<model>``) -> its highest version;
- the export root (``DIR``) -> ``DIR/<--model>`` (or its only model), highest version.

Each file is checked against the input rules of ``serve_bytes`` (``keras_irdi.data.input_rules``: JPEG or
PNG, at most 4096 px per side and 32 MiB, one frame), read with PIL as displayed (EXIF orientation
applied; grayscale, palette, 16-bit and transparent images become 8-bit RGB), fitted
to the network's input with ``keras_irdi.serving.decoding.fit_to_input`` (the rule of the ``serve_bytes``
signature: exactly SxS untouched, else centre-crop to a square and antialiased bilinear resize), then,
with ``--degrade``, degraded at that input size (what the network was trained on), and classified.

Exit status: 0 all files classified, 1 some files could not be read (one ``error: PATH: reason`` line
each on stderr; the others are still classified), 2 usage error (bad option, bad model directory,
missing stage).
"""
from __future__ import annotations

import sys

from keras_irdi.tfenv import load_tensorflow, prog_name, seed_argument

load_tensorflow("--verbose" in sys.argv)  # before anything else loads it: no C++ chatter on stderr

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from keras_irdi.errors import InputError  # noqa: E402

BATCH = 64


class UsageError(InputError):
    """Bad model directory or option combination (exit status 2)."""


def parse_degrade(spec: str):
    """'jpeg:10' -> ('jpeg', 10); errors name the valid kinds / level range."""
    from keras_irdi.degradations import get_degradation

    kind, sep, level = spec.partition(":")
    if not sep or not kind or not level:
        raise argparse.ArgumentTypeError(f"expected KIND:LEVEL such as jpeg:10, gaussian:25 or blur:2, got {spec!r}")
    try:
        deg = get_degradation(kind.strip().lower())
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    try:
        value = int(level) if level.strip().lstrip("+-").isdigit() else float(level)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{deg.level_name} must be a number in {deg.low:g}..{deg.high:g}, got {level!r}") from None
    try:
        checked = deg.check(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return deg.name, (int(checked) if deg.integer else float(checked))


def _highest_version(folder: Path) -> Path | None:
    versions = [p for p in folder.iterdir()
                if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists()] if folder.is_dir() else []
    return max(versions, key=lambda p: int(p.name), default=None)


def resolve_saved_model(path: Path, model: str | None) -> Path | None:
    """The SavedModel folder meant by ``path`` (see the module docstring), or None if there is none."""
    if (path / "saved_model.pb").exists():
        return path
    found = _highest_version(path)
    if found is not None:
        return found
    if model is not None:
        return _highest_version(path / model)
    candidates = [p for p in sorted(path.iterdir()) if _highest_version(p) is not None] if path.is_dir() else []
    if len(candidates) == 1:
        return _highest_version(candidates[0])
    if any(c.name == "proposed" for c in candidates):
        return _highest_version(path / "proposed")
    return None


class Predictor:
    """uint8 (N, S, S, 3) -> dict of numpy arrays with the serving signature's outputs."""

    def __init__(self, fn, input_size: int, info: dict, source: str, keep=None):
        self.fn, self.input_size, self.info, self.source = fn, int(input_size), info, source
        self._keep = keep  # a loaded SavedModel's object graph must outlive its concrete function

    def __call__(self, images: np.ndarray) -> dict:
        import tensorflow as tf

        outs = [self.fn(images=tf.constant(images[i:i + BATCH])) for i in range(0, len(images), BATCH)]
        return {k: np.concatenate([o[k].numpy() for o in outs]) for k in outs[0]}


def open_predictor(target, model: str | None) -> Predictor:
    """A run directory or an exported SavedModel (see the module docstring)."""
    path = Path(target)
    if not path.exists():
        raise UsageError(f"{path}: no such run directory or SavedModel")
    if (path / "manifest.json").exists():
        from keras_irdi.serving.export import build_serving_module

        module = build_serving_module(path, model or "proposed", restore=False)
        return Predictor(module.serving_default, module.input_size, module.info, f"run {path}")
    saved = resolve_saved_model(path, model)
    exported = sorted(p.name for p in path.iterdir() if _highest_version(p) is not None) if path.is_dir() else []
    if saved is None and model is not None and exported:
        raise UsageError(f"{path} holds the exports {', '.join(exported)}, not --model {model!r}; export it "
                         f"(irdi export --model {model}) or choose one of those")
    if saved is None:
        raise UsageError(f"{path} is neither a run directory (manifest.json) nor a SavedModel "
                         "(saved_model.pb, or version folders holding one) written by keras_irdi.serving.export")
    import tensorflow as tf

    from keras_irdi.errors import one_line

    info_file = saved / "assets.extra" / "irdi.json"
    try:
        info = json.loads(info_file.read_text()) if info_file.exists() else {}
        loaded = tf.saved_model.load(str(saved))
    # A damaged export is the user's to replace, not a bug: TensorFlow's checkpoint reader reports a truncated
    # variables file as an IndexError ("Read less bytes than requested"), an empty index as a bare OpError or a
    # DataLossError. Other TensorFlow errors (out of memory, an op this TensorFlow lacks) stay tracebacks.
    except (OSError, ValueError, IndexError, tf.errors.OpError) as err:
        if isinstance(err, tf.errors.OpError) and type(err) not in (tf.errors.OpError, tf.errors.DataLossError):
            raise
        raise UsageError(f"{saved} is not a loadable SavedModel ({one_line(err)[:200]}); export it again") from None
    if model is not None and info.get("network") not in (None, model):
        raise UsageError(f"{saved} holds network {info['network']!r}, not --model {model!r}")
    if "serving_default" not in loaded.signatures:
        raise UsageError(f"{saved} has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    spec = fn.structured_input_signature[1].get("images")
    if spec is None or spec.shape.rank != 4 or spec.shape[1] is None:
        raise UsageError(f"{saved}: serving_default does not take uint8 images [None, S, S, 3]")
    return Predictor(fn, spec.shape[1], info, f"SavedModel {saved}", keep=loaded)


def _level_unit(info: dict) -> str:
    if info.get("level_unit"):
        return info["level_unit"]
    from keras_irdi.degradations import get_degradation

    return get_degradation(info["degradation"]).unit_name if info.get("degradation") else "level"


def main(argv=None) -> int:
    from keras_irdi.errors import main_wrapper

    return main_wrapper(_main, argv, interrupted="interrupted")


def _main(argv) -> int:
    from keras_irdi.degradations import DEGRADATIONS
    from keras_irdi.network_ids import NETWORKS

    parser = argparse.ArgumentParser(prog=prog_name("irdi-predict"), description=(
        "Classify image files with a trained run directory or a SavedModel exported by keras_irdi.serving.export."))
    parser.add_argument("model_dir", metavar="RUN_OR_SAVEDMODEL", help="run directory or exported SavedModel")
    parser.add_argument("images", metavar="IMG", nargs="+", help="image files (JPEG or PNG, at most 4096 px per side)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to print per image (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--degrade", type=parse_degrade, default=None, metavar="KIND:LEVEL",
                        help="degrade each image first: " + ", ".join(
                            f"{d.name}:LEVEL ({d.unit_name} {d.low:g}..{d.high:g})" for d in DEGRADATIONS.values()))
    parser.add_argument("--model", choices=NETWORKS, default=None,
                        help="network of a run directory or export root (default proposed)")
    parser.add_argument("--seed", type=seed_argument, default=0, help="seed of --degrade gaussian (default 0)")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines on stderr")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be at least 1, got {args.top_k}")

    predictor = open_predictor(args.model_dir, args.model)

    from keras_irdi.data.images import read_input_file
    from keras_irdi.data.jpeg_quality import file_jpeg_quality
    from keras_irdi.degradations import degrade
    from keras_irdi.errors import one_line, printable
    from keras_irdi.serving.decoding import fit_to_input
    from keras_irdi.serving.native_level import measured_on, native_tiles, summarise

    trained_on = predictor.info.get("degradation")
    if args.degrade and trained_on and args.degrade[0] != trained_on:
        print(f"warning: the model was trained for {trained_on}, not {args.degrade[0]}: its level estimate "
              f"and ensemble weights assume {trained_on}", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    results, images, good, tiles = [], [], [], []
    for name in args.images:
        try:
            native = read_input_file(name)
            image = fit_to_input(native, predictor.input_size).numpy()
            if args.degrade:
                image = degrade(image, args.degrade[0], args.degrade[1], seed=rng)
        except FileNotFoundError:
            results.append({"file": name, "error": f"{name}: no such file"})
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, the rest still run
            msg = one_line(err)
            results.append({"file": name, "error": msg if msg.startswith(str(name)) else f"{name}: {msg}"})
        else:
            good.append(len(results))
            results.append({"file": name, "file_jpeg_quality": file_jpeg_quality(name)})
            images.append(image)
            tiles.append(native_tiles(native, predictor.input_size))  # at most MAX_TILES, not the photo

    if images:
        out = predictor(np.stack(images))
        k = min(args.top_k, out["probabilities"].shape[1])
        unit = _level_unit(predictor.info)
        for row, index in enumerate(good):
            probs = out["probabilities"][row]
            order = np.argsort(-probs, kind="stable")[:k]
            names = [_class_name(predictor, out, row, int(c)) for c in order]
            level = float(out["estimated_level"][row])
            quality = results[index]["file_jpeg_quality"]
            native = summarise(predictor(tiles[row])["estimated_level"]) if len(tiles[row]) else None
            results[index].update({
                "class": out["class_name"][row].decode(), "class_id": int(out["class_id"][row]),
                "top_k": [{"class": n, "class_id": int(c), "probability": float(probs[c])}
                          for n, c in zip(names, order)],
                "file_jpeg_quality": quality and quality.quality,
                "level_native": None if native is None or _no_level(predictor.info, native["median"])
                else dict(native, tile_size=predictor.input_size),
                "level_of_input": None if _no_level(predictor.info, level) else level, "level_unit": unit,
                "measured_on": measured_on(quality, predictor.input_size, args.degrade),
                "weights": dict(zip(predictor.info.get("weights_columns", ("w_org", "w_res")),
                                    (float(w) for w in out["weights"][row]))),
                "degraded": f"{args.degrade[0]}:{args.degrade[1]:g}" if args.degrade else None,
            })

    for r in results:
        if "error" in r:
            print(f"error: {printable(r['error'])}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" not in r:
                print(printable(_format(r)))
    return 1 if any("error" in r for r in results) else 0


def _no_level(info: dict, level: float) -> bool:
    """-1 is the signatures' "no estimator in this export" value (a real estimate may be slightly < 0)."""
    return info.get("estimated_level") == "none" or (info.get("estimated_level") is None and level == -1.0)


def _class_name(predictor, out, row, class_id) -> str:
    names = predictor.info.get("class_names")
    if names:
        return names[class_id]
    if class_id == int(out["class_id"][row]):
        return out["class_name"][row].decode()
    return f"class_{class_id}"


def _format(r: dict) -> str:
    head = f"{r['file']}" + (f" (degraded {r['degraded']})" if r["degraded"] else "")
    lines = [f"{head}: {r['class']}"]
    lines += [f"  {i}. {t['class']} ({t['probability']:.4f})" for i, t in enumerate(r["top_k"], 1)]
    from keras_irdi.serving.native_level import describe_levels

    lines += describe_levels(r)
    lines.append("  weights: " + ", ".join(f"{name} {w:.3f}" for name, w in r["weights"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
