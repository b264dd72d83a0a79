"""Training precision (keras_irdi.models.precision): ``auto`` follows the CPU, the tensors that feed losses stay
float32, every saved stage is float32, precision is part of a stage's identity, and one seed and precision give
the same weights."""
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net
from keras_irdi.errors import InputError
from keras_irdi.models import precision as P
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig, RuntimeConfig, open_run
from keras_irdi.runs.directory import RunDir
from keras_irdi.training.stage_configs import expected_stage_config


@pytest.mark.parametrize("flags, expected", [([], "float32"), (["avx512_bf16"], "bfloat16"),
                                             (["amx_bf16", "avx512_bf16"], "bfloat16")])
def test_auto_follows_the_cpu(monkeypatch, flags, expected):
    monkeypatch.setattr(P, "cpu_info", lambda: {"cpu": "x", "cores": 2, "bf16_flags": flags})
    monkeypatch.setattr(P, "_gpu_supports_bf16", lambda: False)
    assert P.resolve_precision("auto") == expected
    assert P.resolve_precision("float16") == "float16"  # a named precision is taken as it is


def test_cpu_info_reads_this_machine():
    info = P.cpu_info()
    assert info["cpu"] and info["cores"] >= 1 and set(info["bf16_flags"]) <= set(P.BF16_CPU_FLAGS)
    proc = Path("/proc/cpuinfo")
    family = next((line.split(":")[1].strip() for line in (proc.read_text().splitlines() if proc.exists() else [])
                   if line.startswith("cpu family")), None)
    if family is None:  # not x86 Linux: nothing to tell apart by
        assert info["family_model"] == ""
    else:  # the family and model of the first processor, as /proc/cpuinfo has them
        assert info["family_model"].startswith(f"family {family} model ")


@pytest.mark.parametrize("build, out_shape", [(lambda: build_classifier(filters=(8, 16, 32), dense_units=16), (2, 10)),
                                              (lambda: build_classifier(filters=(8, 16, 32), dense_units=16,
                                                                        batchnorm=True), (2, 10)),
                                              (lambda: build_level_estimator(8), (2, 1)),
                                              (lambda: build_restoration_net(8), (2, 32, 32, 3))])
def test_bf16_nets_feed_losses_in_float32_and_save_as_float32(build, out_shape):
    with P.precision_policy("bfloat16"):
        model = build()
    assert keras.config.dtype_policy().name == "float32"  # the policy is restored after building
    assert any(layer.dtype_policy.compute_dtype == "bfloat16" for layer in model.layers)
    assert all(v.dtype == "float32" for v in model.weights)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    out = model(x)
    assert out.dtype == "float32" and tuple(out.shape) == out_shape
    copy = P.float32_copy(model)
    assert all(layer.dtype_policy.name == "float32" for layer in copy.layers)
    for a, b in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    ref = build()  # the same network built in float32, given the same weights, computes what the copy computes
    ref.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(ref(x)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(out), atol=0.05)  # bf16 differs only by rounding
    assert P.float32_copy(ref) is ref


def test_bf16_dilated_training_works_where_the_flags_say_so():
    """bf16_trains_dilated_convs tells the truth about this machine: one training step of the (dilated) level
    estimator in bfloat16 succeeds exactly where it says so, and raises TensorFlow's error where it does not."""
    import tensorflow as tf

    with P.precision_policy("bfloat16"):
        model = build_level_estimator(8)
    model.compile("adam", "mse")
    x, y = np.zeros((4, 32, 32, 3), np.float32), np.zeros((4, 1), np.float32)
    if P.bf16_trains_dilated_convs():
        model.train_on_batch(x, y)
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match="dilation rates larger than 1"):
            model.train_on_batch(x, y)


def test_bf16_restoration_leaves_the_input_unrounded():
    """The zero-initialised residual net starts as the identity: in bf16 too, exactly (the subtraction and
    the clip compute in float32, so the input is never rounded to 8 mantissa bits)."""
    with P.precision_policy("bfloat16"):
        model = build_restoration_net(8)
    x = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model(x)), x)


def test_precision_is_part_of_the_conv_stages_identity():
    config = RunConfig(preset=get_preset("smoke"))
    config.precision = "float32"
    f32 = {s: expected_stage_config(config, s) for s in ("restoration", "cla_org", "weight_net")}
    assert all("precision" not in c for c in f32.values())  # float32 by absence: older stages keep their identity
    config.precision = "bfloat16"
    bf16 = {s: expected_stage_config(config, s) for s in f32}
    assert bf16["restoration"]["precision"] == bf16["cla_org"]["precision"] == "bfloat16"
    assert "precision" not in bf16["weight_net"]  # it trains in float32, but on inputs of another precision:
    assert bf16["weight_net"] != f32["weight_net"]
    with pytest.raises(InputError, match="unknown precision 'half'; choose one of"):
        RunConfig(preset=get_preset("smoke"), precision="half").validate()


def test_open_run_resolves_and_records_the_precision(tmp_path, cifar_dir, monkeypatch, capsys):
    monkeypatch.setattr(P, "cpu_info", lambda: {"cpu": "test cpu", "cores": 2, "bf16_flags": ["amx_bf16"]})
    run, config = open_run(tmp_path / "run", RunConfig(preset=get_preset("smoke"),
                                                       runtime=RuntimeConfig(data_dir=str(cifar_dir))),
                           precision="auto")
    assert config.precision == "bfloat16"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["precision"] == "bfloat16"
    last = manifest["commands"][-1]
    assert last["precision"] == {"requested": "auto", "resolved": "bfloat16"}
    assert last["machine"] == {"cpu": "test cpu", "cores": 2, "bf16_flags": ["amx_bf16"]}
    # Reopened without --precision: the run's precision, whatever this machine has.
    monkeypatch.setattr(P, "cpu_info", lambda: {"cpu": "other", "cores": 2, "bf16_flags": []})
    capsys.readouterr()
    _, again = open_run(tmp_path / "run")
    assert again.precision == "bfloat16"
    # ... and it says, in one line, that bfloat16 is emulated here; a machine with bf16 units hears nothing.
    err = capsys.readouterr().err
    assert "no bf16 units" in err and "--precision float32" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(P, "_gpu_supports_bf16", lambda: False)
    assert P.emulation_note("float32") is None
    monkeypatch.setattr(P, "cpu_info", lambda: {"cpu": "x", "cores": 2, "bf16_flags": ["avx512_bf16"]})
    assert P.emulation_note("bfloat16") is None
    # Without AVX-512 the restoration net cannot train in bfloat16 at all (TensorFlow's Eigen fallback): said so.
    monkeypatch.setattr(P, "cpu_info", lambda: {"cpu": "x", "cores": 2, "bf16_flags": [], "avx512": False})
    note = P.emulation_note("bfloat16")
    assert "no AVX-512" in note and "dilated" in note and "--precision float32" in note
    assert not P.bf16_trains_dilated_convs()


def test_wide_v1_is_small_v1_at_the_paper_widths_in_bfloat16():
    wide, v1, paper = get_preset("wide_v1").to_dict(), get_preset("small_v1").to_dict(), get_preset("paper")
    assert wide["precision"] == "bfloat16" and v1["precision"] == "float32"
    assert tuple(wide["classifier"]["filters"]) == tuple(paper.classifier.filters) == (64, 128, 256)
    assert wide["classifier"]["dense"] == paper.classifier.dense == 512
    assert wide["restoration"]["filters"] == wide["estimator"]["filters"] == 64
    for d in (wide, v1):  # every other choice, schedules included, is small_v1's
        d.pop("name"), d.pop("precision")
        d["classifier"].pop("filters"), d["classifier"].pop("dense")
        d["restoration"].pop("filters"), d["estimator"].pop("filters")
    assert wide == v1


def test_wide_v2_is_wide_v1_with_the_probed_schedules():
    """Only the two schedules the probes measured change (experiments/wide_*_probe): the base classifier's epochs
    and the JPEG restoration net's; everything else, noise and blur included, is wide_v1's."""
    v2, v1 = get_preset("wide_v2").to_dict(), get_preset("wide_v1").to_dict()
    assert (v1["classifier"]["train"]["epochs"], v2["classifier"]["train"]["epochs"]) == (14, 28)
    assert (v1["restoration"]["train"]["jpeg"]["epochs"], v2["restoration"]["train"]["jpeg"]["epochs"]) == (6, 18)
    for d in (v2, v1):
        d.pop("name"), d["classifier"]["train"].pop("epochs"), d["restoration"]["train"]["jpeg"].pop("epochs")
    assert v2 == v1


def _train_estimator(run_dir, cifar_dir, precision):
    from keras_irdi.training.stages import train_estimator

    run, config = open_run(run_dir, RunConfig(preset=get_preset("smoke"), seed=5,
                                              runtime=RuntimeConfig(data_dir=str(cifar_dir))), precision=precision)
    train_estimator(run, config)
    return RunDir(run_dir), config


def test_a_dilated_stage_in_bf16_without_avx512_is_refused_in_one_line(tmp_path, cifar_dir, monkeypatch):
    """Where TensorFlow cannot train it, the stage stops before any data is read or weight written, saying what
    to do, instead of failing inside TensorFlow's graph."""
    from keras_irdi.errors import InputError

    monkeypatch.setattr(P, "bf16_trains_dilated_convs", lambda: False)
    with pytest.raises(InputError, match=r"^estimator cannot train in bfloat16 on this CPU: .*--precision float32$"):
        _train_estimator(tmp_path / "run", cifar_dir, "bfloat16")
    assert not RunDir(tmp_path / "run").stage_dir("estimator").exists()


@pytest.mark.slow
@pytest.mark.skipif(not P.bf16_trains_dilated_convs(),
                    reason="this CPU has no AVX-512: TensorFlow cannot train the estimator's dilated convolutions "
                           "in bfloat16 (test_bf16_dilated_training_works_where_the_flags_say_so)")
def test_bf16_stage_is_deterministic_float32_on_disk_and_not_reused_as_float32(tmp_path, cifar_dir):
    import tensorflow as tf

    (a, config), (b, _) = (_train_estimator(tmp_path / n, cifar_dir, "bfloat16") for n in ("a", "b"))
    wa, wb = a.load_stage("estimator").get_weights(), b.load_stage("estimator").get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)  # same seed and precision, same weights
    assert all(layer.dtype_policy.name == "float32" for layer in a.load_stage("estimator").layers)
    assert json.loads((a.stage_dir("estimator") / "config.json").read_text())["precision"] == "bfloat16"
    config.precision = "float32"
    assert not a.has_stage("estimator", expected_stage_config(config, "estimator"))  # never silently reused
    f32, _ = _train_estimator(tmp_path / "f32", cifar_dir, "float32")  # the option really changes the training
    assert any(not np.array_equal(x, y) for x, y in zip(wa, f32.load_stage("estimator").get_weights()))
    # The stage's SavedModel (what serving loads) holds no bfloat16 tensor anywhere in its graph.
    sig = tf.saved_model.load(str(a.stage_dir("estimator") / "savedmodel")).signatures["serving_default"]
    graph = sig.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    assert nodes and not any(attr.type == tf.bfloat16.as_datatype_enum for n in nodes for attr in n.attr.values())
