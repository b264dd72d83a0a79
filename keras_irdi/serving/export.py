"""Export a trained network as a TensorFlow Serving SavedModel (and the shared input rules of `predict`).

Layout written (TF Serving's model base path is ``DIR/<model>``)::

    DIR/<model>/<version>/saved_model.pb, variables/       the SavedModel
    DIR/<model>/<version>/assets.extra/irdi.json           class names, degradation, input size, conventions

The version folder is written under a hidden temporary name and renamed into place when complete, so a
TF Serving instance watching ``DIR/<model>`` never loads half a model. ``--format onnx`` writes the same
network as ONNX into ``DIR/<model>-onnx/<version>/`` instead (``keras_irdi.serving.onnx_export``).

Two signatures, both returning the same dict:

``serving_default(images: uint8 [None, S, S, 3])`` (S = the run's ``input_size``) and
``serve_bytes(image_bytes: string [None])`` (encoded JPEG or PNG files) ->

- ``probabilities``   float32 [None, C]
- ``class_id``        int64   [None]
- ``class_name``      string  [None]
- ``estimated_level`` float32 [None]  in the degradation's units (JPEG quality factor or noise sigma on
  the 0..255 scale), clipped to the degradation's range (QF 1..100, sigma 0..50): the estimator's raw
  output can leave it, e.g. QF 105 for a grey PNG (the weight net is fed the raw estimate, as in training).
  Every network reports it when the run has a trained level estimator (for networks other than Proposed the
  estimator runs beside the classifier and does not affect its decision); -1 when the run has no estimator.
- ``weights``         float32 [None, M]  the share of each member in the decision, columns named in
  ``assets.extra/irdi.json`` (``weights_columns``). Proposed: the weight net's output, one column per
  member (the paper's: w_org, w_res; a three-member net adds w_deg, Cla(deg) on the degraded image).
  Other networks, (w_org, w_res): Cla(org), Seq(org): [1, 0]. Cla(deg), Seq(res): [0, 1]. Ens(Cla):
  one-hot of the classifier whose (more confident) prediction was taken.

Input rules of ``serve_bytes`` (``decode_to_rgb`` then ``fit_to_input``), the same for ``irdi-predict``'s
files (``keras_irdi.data.input_rules`` states them for both):

- accepted formats: JPEG and PNG only (by magic number); anything else is an InvalidArgumentError;
- at most ``MAX_BYTES`` per image, and the width and height declared in the file header (read without
  decoding: ``tf.image.extract_jpeg_shape`` / the PNG IHDR chunk) must be within 1..``MAX_SIDE``; the
  check runs before the decoder, so a header claiming 60000x60000 never allocates the pixel buffer;
- an animated PNG (an acTL chunk declaring more than one frame) is refused;
- EXIF orientation (IFD0 tag 0x0112 of the JPEG's "Exif" APP1 segment or the PNG's eXIf chunk) is applied
  after decoding, the transposition ``PIL.ImageOps.exif_transpose`` makes, so a phone photo is classified
  as displayed;
- grayscale is expanded to RGB; transparency (PNG alpha, palette transparency) is composited onto white;
  JPEG is decoded with the accurate integer IDCT, bit-identical to PIL (which made the training data);
- resize rule: an image of exactly S x S is used untouched; any other size is centre-cropped to a square
  (side = the shorter side) and resized to S x S with antialiased bilinear interpolation
  (``tf.image.resize(..., "bilinear", antialias=True)``), then rounded and cast to uint8.

A third signature, when the run has a restoration stage: ``restore(image: uint8 [H, W, 3], quality: int32 [])``
(any H, W) -> ``restored`` uint8 [H, W, 3], the restoration net at the image's own resolution with the share
of its residual the run's quality gate gives that JPEG quality: the function ``irdi-restore`` runs
(``keras_irdi.serving.restore.restore_function``). ``quality`` may be left out (TF Serving fills in the
SignatureDef's default, 0): an unknown quality, which a gated run leaves as it is.

Malformed input makes the request fail with ``tf.errors.InvalidArgumentError``; there is no
``tf.py_function`` in either signature, so the SavedModel runs in TF Serving as is.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from keras_irdi.errors import AccessError, ExistsError, InputError, MissingError  # noqa: E402
from keras_irdi.tfenv import load_tensorflow, prog_name  # noqa: E402

tf = load_tensorflow("--verbose" in sys.argv)  # before anything else loads it: no C++ chatter on stderr

from keras_irdi.data.input_rules import MAX_BYTES, MAX_SIDE  # noqa: E402,F401
from keras_irdi.serving.decoding import checked_pixels, decode_to_rgb, fit_to_input  # noqa: E402,F401

FORMATS = ("savedmodel", "onnx")  # irdi-export --format
# Column 0 = classifier trained on original images, column 1 = trained on degraded / restored images.
FIXED_WEIGHTS = {"cla_org": (1.0, 0.0), "seq_org": (1.0, 0.0), "cla_deg": (0.0, 1.0), "seq_res": (0.0, 1.0)}


# -- the serving module --------------------------------------------------------------------------
class ServingModule(tf.Module):
    """A composite plus post-processing, with ``serving_default`` and ``serve_bytes`` tf.functions.

    Used by `export_serving` (saved) and by `keras_irdi.serving.predict` on a run directory (in process), so a
    run directory and its export give the same answers.
    """

    def __init__(self, network: str, composite, class_names, degradation: str, input_size: int,
                 estimator=None, taps=None, restoration=None, quality_gate=None):
        super().__init__(name=f"irdi_{network}")
        from keras_irdi.degradations import get_degradation

        self.network = network
        self.composite = composite  # keras model: float32 0..255 -> probabilities (or Proposed's dict)
        self.estimator = estimator  # keras model 0..1 -> normalised level, or None
        self.taps = taps  # Ens(Cla): keras model -> Cla(org)'s probabilities inside the composite
        self.restoration = restoration  # keras model 0..1 -> 0..1, any HxW, or None: the restore signature
        self.quality_gate = quality_gate  # {JPEG quality: share of the residual}, or None: all of it
        self.class_names = tf.constant(list(class_names), tf.string)
        self.level_scale = float(get_degradation(degradation).scale)
        self.level_range = (float(get_degradation(degradation).low), float(get_degradation(degradation).high))
        self.input_size = int(input_size)
        s = self.input_size

        def serving_default(images):
            return self._run(checked_pixels(images, size=s))  # TF Serving does not enforce the shape

        def serve_bytes(image_bytes):
            images = tf.map_fn(lambda b: fit_to_input(decode_to_rgb(b), s), image_bytes,
                               fn_output_signature=tf.TensorSpec([s, s, 3], tf.uint8),
                               parallel_iterations=1)  # one decoded image in memory at a time
            return self._run(images)

        self.serving_default = tf.function(
            serving_default, input_signature=[tf.TensorSpec([None, s, s, 3], tf.uint8, name="images")])
        self.serve_bytes = tf.function(
            serve_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        if restoration is not None:  # uint8 [H, W, 3], quality -> {"restored": uint8 [H, W, 3]}, tiled, gated
            from keras_irdi.serving.restore import restore_function

            self.restore = restore_function(restoration, quality_gate)

    def _run(self, images):
        result = self.numeric_outputs(images)
        return dict(result, class_name=tf.gather(self.class_names, result["class_id"]))

    def numeric_outputs(self, images, guard_empty: bool = True):
        """``serving_default``'s outputs but ``class_name``: what the ONNX export converts (tf2onnx would make
        the captured string table an input of the graph).

        ``guard_empty``: an empty batch trips TF's dilated convolutions ("input depth must be evenly
        divisible"), so one blank image is run instead and zero rows returned. The ONNX export leaves the
        guard out: ONNX convolutions take an empty batch, and OpenVINO 2026.4 computes wrong values through
        the ``If`` node the guard becomes (every level estimate at the range's low end)."""
        x = tf.cast(images, tf.float32)
        batch = tf.shape(x)[0]
        if guard_empty:
            x = tf.cond(batch > 0, lambda: x, lambda: tf.zeros([1, self.input_size, self.input_size, 3]))
        result = self._forward(x)
        return {k: v[:batch] for k, v in result.items()}

    def _forward(self, x):
        batch = tf.shape(x)[0]
        out = self.composite(x, training=False)
        if isinstance(out, dict):  # Proposed
            probs, level, weights = out["probabilities"], tf.reshape(out["level"], [-1]), out["weights"]
        else:
            probs = out
            if self.estimator is not None:
                level = tf.reshape(self.estimator(x / 255.0, training=False), [-1]) * self.level_scale
            else:
                level = tf.fill([batch], tf.constant(-1.0, tf.float32))
            if self.taps is not None:  # Ens(Cla): which classifier's vector was taken
                took_org = tf.reduce_all(tf.equal(probs, self.taps(x, training=False)), axis=-1)
                w_org = tf.cast(took_org, tf.float32)
                weights = tf.stack([w_org, 1.0 - w_org], axis=-1)
            else:
                weights = tf.tile(tf.constant([FIXED_WEIGHTS[self.network]], tf.float32), [batch, 1])
        if isinstance(out, dict) or self.estimator is not None:  # a raw estimate can leave the range (QF 105)
            level = tf.clip_by_value(tf.cast(level, tf.float32), *self.level_range)
        probs = tf.cast(probs, tf.float32)
        class_id = tf.argmax(probs, axis=-1, output_type=tf.int64)
        return {"probabilities": probs, "class_id": class_id, "estimated_level": tf.cast(level, tf.float32),
                "weights": tf.cast(weights, tf.float32)}

    def signatures(self) -> dict:
        return {"serving_default": self.serving_default.get_concrete_function(),
                "serve_bytes": self.serve_bytes.get_concrete_function(),
                **({"restore": self.restore.get_concrete_function()} if self.restoration is not None else {})}

    def keras_models(self) -> list:
        """Every Keras model the signatures call (what the export archive must track)."""
        models = [m for m in (self.composite, self.estimator, self.taps, self.restoration) if m is not None]
        return [m for i, m in enumerate(models) if all(m is not other for other in models[:i])]

    def write_saved_model(self, path) -> None:
        """Write the signatures (``restore`` too where the run has a restoration net) as a SavedModel that TF
        Serving's session loader can run.

        Through ``keras.export.ExportArchive``: a plain ``tf.saved_model.save`` of this module loads in
        ``tf.saved_model.load`` but not in TF Serving's (and ``saved_model_cli``'s) session-based loader,
        which restores variables through the MetaGraph's saver and does not find Keras 3's variables
        ("Could not find variable ..."); the archive tracks them the way that loader needs.
        """
        import keras

        archive = keras.export.ExportArchive()
        for model in self.keras_models():
            archive.track(model)
        archive.add_endpoint("serving_default", self.serving_default)
        archive.add_endpoint("serve_bytes", self.serve_bytes)
        if self.restoration is not None:
            archive.add_endpoint("restore", self.restore)
        archive.write_out(str(path), verbose=False)
        if self.restoration is not None:
            _default_quality(path)


def _default_quality(path) -> None:
    """Make the restore signature's ``quality`` optional: a default (UNKNOWN_QUALITY) in its SignatureDef,
    which TF Serving feeds when a request leaves the input out. ExportArchive saves concrete functions, which
    carry no defaults, so it is written into saved_model.pb afterwards (and the fingerprint, a checksum of that
    file, written again)."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import fingerprinting_utils

    from keras_irdi.serving.restore import UNKNOWN_QUALITY

    pb = Path(path) / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    for meta in saved.meta_graphs:
        meta.signature_def["restore"].defaults["quality"].CopyFrom(tf.make_tensor_proto(UNKNOWN_QUALITY, tf.int32))
    pb.write_bytes(saved.SerializeToString())
    fingerprinting_utils.write_fingerprint(str(path))


def run_info(run_dir) -> dict:
    """Degradation, class names and input size of a run (from its manifest)."""
    from keras_irdi.runs.directory import RunDir

    run = RunDir(run_dir)
    if not run.manifest_path.exists():
        raise MissingError(f"{run.path} is not a run directory (no manifest.json); "
                                "train one first, e.g. irdi train --run-dir RUN")
    manifest = run.manifest()
    config = manifest.get("config") or {}
    degradation = config.get("degradation")
    if not degradation:
        raise InputError(f"{run.manifest_path} has no config.degradation: not a trained run's manifest; "
                         "restore it or train the run again")
    return {"degradation": degradation, "dataset": config.get("dataset"),
            "class_names": manifest.get("class_names"), "input_size": int(manifest.get("input_size", 32))}


def build_serving_module(run_dir, model: str = "proposed", restore: bool = True) -> ServingModule:
    """Load a run's stages and wrap the requested network (one of networks.NETWORKS).

    ``restore``: also the ``restore`` signature and its quality gate, which an export ships and classifying
    never uses (`irdi predict` leaves them out: a run whose gate is missing still classifies)."""
    import keras

    from keras_irdi.runs.directory import RunDir
    from keras_irdi.models.composites import build_composite, required_stages
    from keras_irdi.models.precision import float32_copy
    from keras_irdi.models.weights import PAPER_MEMBERS, weight_net_members
    from keras_irdi.network_ids import NETWORKS, weight_columns

    if model not in NETWORKS:
        raise InputError(f"unknown network {model!r}; choose one of: {', '.join(NETWORKS)}")
    info = run_info(run_dir)
    run = RunDir(run_dir)
    needed = required_stages(model)
    # float32 whatever a stage was saved in (training saves float32 copies; this keeps every export so)
    stages = {name: float32_copy(stage) for name, stage in run.load_stages(*needed).items()}
    size = info["input_size"]
    composite = build_composite(model, stages, info["degradation"], input_shape=(size, size, 3))
    estimator = None
    if model != "proposed" and run.has_stage("estimator"):
        estimator = float32_copy(run.load_stage("estimator"))
        estimator.trainable = False
    taps = None
    if model == "ens_cla":
        p_org, _ = composite.get_layer("max_confidence").input
        taps = keras.Model(composite.inputs, p_org, name="ens_cla_org_tap")
    class_names = info["class_names"]
    classifier = next(stages[k] for k in ("cla_org", "cla_deg", "cla_res") if k in stages)
    n_classes = int(classifier.output_shape[-1])
    if not class_names:
        class_names = [f"class_{i}" for i in range(n_classes)]
    if len(class_names) != n_classes:
        raise InputError(f"{run.manifest_path}: {len(class_names)} class names for a {n_classes}-class model; "
                         "give it the classifiers' class_names (in their order) or train the run again")
    restoration = None
    if restore:
        restoration = stages["restoration"] if "restoration" in stages else (
            float32_copy(run.load_stage("restoration")) if run.has_stage("restoration") else None)
    gate = run.quality_gate() if restoration is not None else None
    module = ServingModule(model, composite, class_names, info["degradation"], size, estimator, taps, restoration,
                           gate)
    members = weight_net_members(stages["weight_net"]) if model == "proposed" else PAPER_MEMBERS
    module.info = dict(info, class_names=list(class_names), network=model, weights_columns=weight_columns(members),
                       estimated_level="estimator" if (model == "proposed" or estimator is not None) else "none",
                       quality_gate=None if gate is None else {str(q): share for q, share in sorted(gate.items())})
    return module


def next_version(base: Path) -> int:
    """1 + the highest integer-named folder in ``base`` (TF Serving's version folders), else 1."""
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def _check_writable(path: Path) -> None:
    """PermissionError unless ``path`` could be created and written; creates nothing (a temporary file in
    the nearest existing ancestor is written and removed)."""
    import tempfile

    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a directory")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise AccessError(f"cannot write into {path} ({exc.strerror or exc}); choose another --out") from None


def export_serving(run_dir, out_dir, model: str = "proposed", version: int | None = None,
                   fmt: str = "savedmodel") -> Path:
    """Export ``model`` of the run as ``out_dir/<model>/<version>/`` (``fmt`` "savedmodel") or
    ``out_dir/<model>-onnx/<version>/`` ("onnx": ``keras_irdi.serving.onnx_export``, a folder TF Serving
    watching ``out_dir/<model>`` never sees); returns that version folder."""
    from keras_irdi.degradations import get_degradation
    from keras_irdi.runs.directory import RunDir

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "onnx":
        from keras_irdi.serving import onnx_export

        onnx_export.check_installed()  # before the (slow) build, as the check below
    if version is not None and int(version) < 1:  # before the build, and before any folder is made
        raise InputError(f"--version must be a positive integer, got {version}")
    base = Path(out_dir) / (model if fmt == "savedmodel" else f"{model}-onnx")
    _check_writable(base)  # before the (slow) build, so an unwritable --out fails in a second
    module = build_serving_module(run_dir, model)
    base.mkdir(parents=True, exist_ok=True)
    version = next_version(base) if version is None else int(version)
    final = base / str(version)
    if final.exists():
        raise ExistsError(f"{final} already exists; choose another --version or omit it for the next one")
    tmp = base / f".tmp-{version}-{os.getpid()}"  # not an integer name: TF Serving ignores it
    shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "onnx":
        files = onnx_export.write_onnx(module, tmp)
        info_dir = tmp
    else:
        module.write_saved_model(tmp)
        files, info_dir = None, tmp / "assets.extra"
    deg = get_degradation(module.info["degradation"])
    extra = dict(module.info, level_unit=deg.unit_name, level_range=[deg.low, deg.high], version=version,
                 max_side=MAX_SIDE, max_bytes=MAX_BYTES, run=Path(run_dir).resolve().name,
                 run_commit=RunDir(run_dir).manifest().get("versions", {}).get("commit"),
                 resize_rule="exactly SxS: untouched; else centre-crop to a square, antialiased bilinear "
                             "resize to SxS, round to uint8", format=fmt, **({"onnx": files} if files else {}))
    info_dir.mkdir(exist_ok=True)
    with open(info_dir / "irdi.json", "w") as f:
        json.dump(extra, f, indent=2)
    os.replace(tmp, final)
    return final


def main(argv=None) -> int:
    from keras_irdi.errors import main_wrapper

    return main_wrapper(_main, argv, interrupted="interrupted")


def _main(argv) -> None:
    from keras_irdi.network_ids import NETWORKS

    parser = argparse.ArgumentParser(prog=prog_name("irdi-export"), description=(
        "Export a trained network of a run directory as a TF Serving SavedModel DIR/<model>/<version>/ "
        "with signatures serving_default (uint8 images) and serve_bytes (JPEG/PNG bytes), or as ONNX."))
    parser.add_argument("--run-dir", required=True, help="run directory written by irdi train")
    parser.add_argument("--out", required=True, help="model base directory (TF Serving's model_base_path parent)")
    parser.add_argument("--model", default="proposed", choices=NETWORKS, help="network to export (default proposed)")
    parser.add_argument("--format", default="savedmodel", choices=FORMATS,
                        help="savedmodel (default: TF Serving) or onnx (DIR/<model>-onnx/<version>/: classify.onnx, "
                             "restore.onnx; needs pip install 'keras-irdi[onnx]')")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines on stderr")
    parser.add_argument("--version", type=int, default=None,
                        help="version folder (default: 1 + the highest existing one, else 1)")
    args = parser.parse_args(argv)
    print(export_serving(args.run_dir, args.out, model=args.model, version=args.version, fmt=args.format))


if __name__ == "__main__":
    sys.exit(main())
