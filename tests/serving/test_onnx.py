"""irdi-export --format onnx: classify.onnx and restore.onnx of a (tiny, random-weight, gated) run, run in
onnxruntime against Keras and the SavedModel's functions; float32 whatever the stages were saved in; the
one-line error without the packages."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.models.composites import build_composite, required_stages
from keras_irdi.models.restoration import build_restoration_net
from keras_irdi.runs.directory import RunDir
from keras_irdi.serving.export import build_serving_module, main

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")

GATE = {"10": 1.0, "50": 0.5, "95": 0.25, "100": 0.0}  # all, half, a quarter, none of the residual


@pytest.fixture(scope="module")
def gated_run(tiny_run, tmp_path_factory):
    """The tiny run with a restoration net that changes its input (a fresh one is the identity) and a gate."""
    import keras

    run_dir = tmp_path_factory.mktemp("onnx_gated") / "run"
    shutil.copytree(tiny_run, run_dir)
    keras.utils.set_random_seed(3)
    RunDir(run_dir).save_stage("restoration", build_restoration_net(8, zero_init_residual=False), config={},
                               export=False, extra_json={"quality_gate.json": GATE})
    return run_dir


@pytest.fixture(scope="module")
def onnx_export(gated_run, tmp_path_factory):
    """``irdi-export --format onnx`` of the gated run (the command line, in process)."""
    root = tmp_path_factory.mktemp("onnx_out")
    assert main(["--run-dir", str(gated_run), "--out", str(root), "--format", "onnx"]) == 0
    return root / "proposed-onnx" / "1"


@pytest.fixture(scope="module")
def module(gated_run):
    return build_serving_module(gated_run, "proposed")


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def all_layers(model):
    for layer in model.layers:
        yield layer
        yield from all_layers(layer) if hasattr(layer, "layers") else ()


def run_named(sess, feeds):
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


@pytest.mark.slow
def test_layout_and_irdi_json(onnx_export):
    assert sorted(p.name for p in onnx_export.iterdir()) == ["classify.onnx", "irdi.json", "restore.onnx"]
    assert not (onnx_export.parent.parent / "proposed").exists()  # TF Serving's folder is never written
    info = json.loads((onnx_export / "irdi.json").read_text())
    assert info["format"] == "onnx" and info["onnx"]["classify"] == "classify.onnx"
    assert info["quality_gate"]["95"] == 0.25 and len(info["class_names"]) == 10
    classify = session(onnx_export / "classify.onnx")
    assert [(i.name, i.type, i.shape[1:]) for i in classify.get_inputs()] == [("images", "tensor(uint8)", [32, 32, 3])]
    assert {o.name for o in classify.get_outputs()} == {"probabilities", "class_id", "estimated_level", "weights"}
    # No empty-batch guard (an If node): OpenVINO 2026.4 computes wrong values through it.
    assert "If" not in {node.op_type for node in onnx.load(str(onnx_export / "classify.onnx")).graph.node}
    restore = session(onnx_export / "restore.onnx")
    assert [(i.name, i.type) for i in restore.get_inputs()] == [("image", "tensor(uint8)"),
                                                                 ("quality", "tensor(int32)")]


@pytest.mark.slow
def test_classify_matches_keras(onnx_export, module, gated_run):
    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    got = run_named(session(onnx_export / "classify.onnx"), {"images": x})
    stages = RunDir(gated_run).load_stages(*required_stages("proposed"))
    keras_probs = np.asarray(build_composite("proposed", stages, "jpeg")(x.astype(np.float32))["probabilities"])
    np.testing.assert_allclose(got["probabilities"], keras_probs, atol=1e-4)
    ref = module.serving_default(tf.constant(x))  # the SavedModel's function, in process
    np.testing.assert_array_equal(got["class_id"], ref["class_id"].numpy())
    np.testing.assert_allclose(got["estimated_level"], ref["estimated_level"].numpy(), atol=1e-3)  # QF units
    np.testing.assert_allclose(got["weights"], ref["weights"].numpy(), atol=1e-4)
    empty = run_named(session(onnx_export / "classify.onnx"), {"images": x[:0]})
    assert empty["probabilities"].shape == (0, 10) and empty["weights"].shape == (0, 2)


@pytest.mark.slow
@pytest.mark.parametrize("quality", [0, 10, 50, 95, 100, 120])
def test_restore_matches_the_signature(onnx_export, module, quality):
    """Within one grey level of the SavedModel's ``restore`` at each share of the gate (all, a half, a quarter,
    none; unknown and above 100 as the signature takes them)."""
    image = np.random.default_rng(1).integers(0, 256, (45, 67, 3), dtype=np.uint8)
    got = run_named(session(onnx_export / "restore.onnx"), {"image": image, "quality": np.array(quality, np.int32)})
    ref = module.restore(tf.constant(image), tf.constant(quality, tf.int32))["restored"].numpy()
    assert got["restored"].shape == image.shape and got["restored"].dtype == np.uint8
    assert np.abs(got["restored"].astype(int) - ref.astype(int)).max() <= 1
    changed = quality in (10, 50, 95)  # the gate's share is above 0: the net's residual is applied
    assert (ref != image).any() == changed


@pytest.mark.slow
def test_float32_whatever_the_stages_were_saved_in(tiny_run, tmp_path):
    """A run whose stages were saved in mixed bfloat16 still exports float32 graphs."""
    from keras_irdi.models.precision import precision_policy
    from keras_irdi.models.random_stages import random_stages
    from keras_irdi.serving.onnx_export import convert, restore_function

    run_dir = tmp_path / "bf16"
    shutil.copytree(tiny_run, run_dir)
    with precision_policy("bfloat16"):
        stages = random_stages("jpeg", 10, 0)
    for name, model in stages.items():
        RunDir(run_dir).save_stage(name, model, config={}, export=False)
    served = build_serving_module(run_dir, "proposed")
    for model in served.keras_models():
        assert {layer.dtype_policy.name for layer in all_layers(model)} == {"float32"}, model.name
    convert(restore_function(served), tmp_path / "restore.onnx")
    graph = onnx.load(str(tmp_path / "restore.onnx")).graph
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16}
    assert {t.data_type for t in graph.initializer} & floats == {onnx.TensorProto.FLOAT}
    assert not [n for n in graph.node if n.op_type == "Cast" and any(
        a.name == "to" and a.i in (onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16) for a in n.attribute)]
