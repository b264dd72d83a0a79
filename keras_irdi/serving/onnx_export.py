"""ONNX export of a run's network (``irdi-export --format onnx``): the SavedModel's tensor signatures as ONNX
graphs, converted by tf2onnx (what Keras's ``model.export(format="onnx")`` runs on TensorFlow).

Written into ``DIR/<model>-onnx/<version>/`` by ``keras_irdi.serving.export.export_serving``::

    classify.onnx   images uint8 [N, S, S, 3] -> probabilities float32 [N, C], class_id int64 [N],
                    estimated_level float32 [N], weights float32 [N, M]: ``serving_default`` without
                    ``class_name`` (the names are in irdi.json's ``class_names``)
    restore.onnx    image uint8 [H, W, 3], quality int32 [] -> restored uint8 [H, W, 3]: the ``restore``
                    signature's quality gate (the share table is a constant of the graph), in one pass
    irdi.json       the SavedModel's irdi.json, plus ``onnx``: these file names and the opset

What stays client-side: decoding and fitting files to S x S (``serve_bytes``' rules, ``fit_to_input``),
the JPEG quality a file was saved at (as for the SavedModel's ``restore``), and tiling a large image for
``restore.onnx``, which holds the whole image's feature maps (the SavedModel tiles in graph ops that ONNX
has no equivalent of). Every tensor is float32: the stages are float32 copies whatever the training precision.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from keras_irdi.errors import MissingError

OPSET = 17  # the newest opset tf2onnx 1.17 writes fully; onnxruntime and OpenVINO read it
REQUIRED = ("onnx", "tf2onnx", "onnxruntime")  # the `onnx` extra of setup.cfg
INSTALL = "pip install 'keras-irdi[onnx]'"


def check_installed() -> None:
    """MissingError naming the extra unless the converter and the runtime can be imported."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingError(f"--format onnx needs {', '.join(missing)}, not installed here: {INSTALL}")


def classify_function(module):
    """``serving_default``'s numeric outputs as a tf.function on uint8 [None, S, S, 3]."""
    import tensorflow as tf

    def classify(images):
        return module.numeric_outputs(images, guard_empty=False)

    s = module.input_size
    return tf.function(classify, input_signature=[tf.TensorSpec([None, s, s, 3], tf.uint8, name="images")])


def restore_function(module):
    """The ``restore`` signature untiled: x + share (R(x) - x) rounded to uint8, with the share the run's gate
    gives ``quality`` (``share_table``, index 0 = unknown: the image as it is)."""
    import tensorflow as tf

    from keras_irdi.models.restoration_gate import share_table
    from keras_irdi.serving.restore import gated_share

    table = np.asarray(share_table(module.quality_gate), np.float32)
    net = module.restoration

    def restore(image, quality):
        # The table made inside: a captured tensor would become an input of the ONNX graph.
        share = gated_share(tf.constant(table), quality)
        x = tf.cast(image, tf.float32)[None] / 255.0
        out = x + share * (net(x, training=False) - x)
        return {"restored": tf.cast(tf.clip_by_value(tf.round(out * 255.0), 0.0, 255.0), tf.uint8)[0]}

    return tf.function(restore, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
                                                 tf.TensorSpec([], tf.int32, name="quality")])


def explicit_same_padding(model_proto) -> None:
    """Replace ``auto_pad=SAME_*`` by explicit pads in stride-1 convolutions, in place.

    tf2onnx writes SAME_UPPER for a convolution whose input size is unknown (the restoration net on an image
    of any size), and onnxruntime refuses it with a dilation ("Dilation not supported for AutoPadType::
    SAME_UPPER"). At stride 1 SAME pads (k - 1) * dilation in total whatever the size, so the pads are
    constants; SAME_UPPER puts an odd pixel at the end."""
    from onnx import helper

    for node in model_proto.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Conv" or attrs.get("auto_pad") not in (b"SAME_UPPER", b"SAME_LOWER"):
            continue
        if any(s != 1 for s in attrs.get("strides", [])) or "kernel_shape" not in attrs:
            continue  # their pads depend on the input size: left to the runtime
        kernel = attrs["kernel_shape"]
        total = [(k - 1) * d for k, d in zip(kernel, attrs.get("dilations", [1] * len(kernel)))]
        small = [t // 2 for t in total]
        begin, end = (small, [t - b for t, b in zip(total, small)])
        if attrs["auto_pad"] == b"SAME_LOWER":
            begin, end = end, begin
        kept = [a for a in node.attribute if a.name != "auto_pad"]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute("pads", begin + end)])


def convert(fn, path) -> None:
    """Convert a tf.function with an input signature to an ONNX file (float32 throughout, explicit pads)."""
    import onnx
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # one INFO line per conversion step otherwise
    model_proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    explicit_same_padding(model_proto)
    onnx.checker.check_model(model_proto)
    onnx.save(model_proto, str(path))


def write_onnx(module, path) -> dict:
    """classify.onnx (and restore.onnx when the run has a restoration net) in ``path``; returns irdi.json's
    ``onnx`` entry."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    convert(classify_function(module), path / "classify.onnx")
    files = {"classify": "classify.onnx"}
    if module.restoration is not None:
        convert(restore_function(module), path / "restore.onnx")
        files["restore"] = "restore.onnx"
    return dict(files, opset=OPSET)
