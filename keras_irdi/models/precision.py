"""Training precision: which Keras mixed-precision policy a stage trains in, and float32 copies to serve.

A CPU with bfloat16 dot products (AVX512_BF16, AMX-BF16) trains the convolutional stages 1.4-3.4x faster
in ``mixed_bfloat16`` (bench/results/precision.md); one without them gains nothing, so ``auto`` follows
the machine, never a fixed rule. Variables stay float32 under every policy, and the layers that feed a
loss or a metric (softmax, level, restored image) compute in float32 (their builders pin them).

Every saved stage is a float32 model (:func:`float32_copy`, same weights): the sweep, the exports and
``irdi-predict`` run float32 graphs whatever the training precision, and a stage's ``.keras`` file does
not depend on the machine that trained it.
"""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

from keras_irdi.preset_sections import check_precision

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of the bf16 dot-product units


def cpu_info() -> dict:
    """The CPU as /proc/cpuinfo names it, and which of its flags decide the precision (Linux; elsewhere the
    platform's processor string and no flags). ``family_model`` tells apart CPUs a virtual machine names alike
    ("AMD EPYC" is an AVX2-only Zen 3 at family 25 model 1, a Zen 5 with AVX512_BF16 at family 26)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first processor's
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    family_model = (f"family {fields['cpu family']} model {fields.get('model', '?')}" if "cpu family" in fields
                    else "")
    return {"cpu": fields.get("model name") or platform.processor() or platform.machine(), "family_model": family_model,
            "cores": len(os.sched_getaffinity(0)), "bf16_flags": sorted(flags & set(BF16_CPU_FLAGS)),
            "avx512": "avx512f" in flags or not flags}  # unknown flags (not Linux): not held against it


def bf16_trains_dilated_convs() -> bool:
    """Whether TensorFlow can train a dilated convolution in bfloat16 here. Its oneDNN bfloat16 kernels need
    AVX-512; without it TensorFlow falls back to Eigen, which has no bfloat16 gradient for dilation > 1
    ("Current CPU implementations do not yet support dilation rates larger than 1", seen on an AVX2-only
    EPYC), so the restoration net and the level estimator cannot train in bfloat16 there."""
    return cpu_info().get("avx512", True) or _gpu_supports_bf16()


def _gpu_supports_bf16() -> bool:
    """A GPU of compute capability 8.0 or newer (Ampere on) has bfloat16 tensor cores."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
        if tuple(capability) >= (8, 0):
            return True
    return False


def resolve_precision(requested: str) -> str:
    """``auto`` -> ``bfloat16`` where the CPU reports bf16 units or a GPU has them, else ``float32``; a named
    precision is returned as it is."""
    check_precision(requested)
    if requested != "auto":
        return requested
    return "bfloat16" if cpu_info()["bf16_flags"] or _gpu_supports_bf16() else "float32"



def emulation_note(precision: str) -> str | None:
    """A one-line note when ``precision`` is bfloat16 on hardware without bf16 units: it still trains (the
    same weights as anywhere), but emulated, several times slower than float32."""
    if precision != "bfloat16" or cpu_info()["bf16_flags"] or _gpu_supports_bf16():
        return None
    if not bf16_trains_dilated_convs():
        return ("note: this CPU has no bf16 units and no AVX-512 (see /proc/cpuinfo), so TensorFlow cannot train "
                "the restoration net's and the estimator's dilated convolutions in bfloat16 here and runs the "
                "classifiers several times slower than float32: train with --precision float32 (a different stage "
                "identity)")
    return ("note: this CPU has no bf16 units (no avx512_bf16 or amx_bf16 in /proc/cpuinfo), so bfloat16 is "
            "emulated and slower than float32; --precision float32 trains faster here (as a different stage "
            "identity)")

@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras's global dtype policy for ``precision`` while networks are built (a layer takes the policy at
    construction); the previous policy afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _float32_config(node):
    """A model config with every layer's dtype policy replaced by float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" or node.get("class_name") == "FloatDTypePolicy":
            return {**node, "config": {**node.get("config", {}), "name": "float32"}}
        return {k: _float32_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    return node


def float32_copy(model):
    """``model`` itself if every layer computes in float32, else the same network and weights in float32."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _float32_tail(model) -> set:
    """Names of the layers that compute a model output without a weight of their own after the last weighted
    layer on the way (an output layer is in it whether or not it has weights): exactly the layers the builders
    pin to float32 (softmax, the restored image, the level's mean)."""
    keep, todo = set(), [t._keras_history.operation for t in model.outputs]
    first = True
    while todo:
        layer = todo.pop()
        if layer.name in keep:
            continue
        if layer.weights and not (first or layer in [t._keras_history.operation for t in model.outputs]):
            continue
        first = False
        keep.add(layer.name)
        if layer.weights:  # a weighted output layer (the softmax Dense): its inputs compute reduced
            continue
        for node in layer._inbound_nodes:
            todo += [t._keras_history.operation for t in node.input_tensors]
    return keep


def reduced_copy(model, precision: str):
    """``model`` (a saved float32 stage) computing in ``precision``'s mixed policy, with the float32 tail its
    builder pins (:func:`_float32_tail`); the same weights. For inference where speed matters more than the
    last bits (``evaluate/sweep.py --precision``): the layers that trained in bfloat16 compute in it again."""
    import keras

    if precision == "float32":
        return float32_copy(model)
    tail, policy = _float32_tail(model), POLICIES[precision]

    def retype(node, layer_name=None):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
                name = "float32" if layer_name in tail else policy
                return {**node, "config": {**node.get("config", {}), "name": name}}
            name = node.get("config", {}).get("name", layer_name) if "class_name" in node else layer_name
            return {k: retype(v, name) for k, v in node.items()}
        if isinstance(node, list):
            return [retype(v, layer_name) for v in node]
        return node

    copy = keras.saving.deserialize_keras_object(retype(keras.saving.serialize_keras_object(model)))
    copy.set_weights(model.get_weights())
    return copy
