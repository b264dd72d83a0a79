"""The six composite networks: mixing rules, frozen sub-models, SavedModel round trip, and Proposed
staying a valid probability vector whatever the pixels, the estimated level or the logits."""
import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.runs.directory import RunDir
from keras_irdi.stage_registry import delivered_stages
from keras_irdi.models.composites import NETWORKS, build_composite, required_stages
from helpers import random_stages, steep_stages


@pytest.fixture(scope="module")
def stages(tiny_run):
    """The tiny run's six stages, loaded afresh: the composites below freeze them."""
    return RunDir(tiny_run).load_stages(*delivered_stages())


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)


def test_proposed_equals_hand_mixing(stages, batch):
    model = build_composite("proposed", stages, "jpeg")
    out = model(batch.astype(np.float32))
    x = batch.astype(np.float32) / 255
    restored = stages["restoration"](x)
    level = stages["estimator"](x)
    # The check below can only fail if restoring changes what the classifiers and the estimator see.
    assert np.abs(np.asarray(restored) - x).max() > 0.01
    assert np.abs(np.asarray(stages["cla_org"](restored)) - np.asarray(stages["cla_org"](x))).max() > 1e-4
    assert np.abs(np.asarray(stages["estimator"](restored)) - np.asarray(level)).max() > 1e-4
    w = np.asarray(stages["weight_net"](level))
    p = w[:, :1] * stages["cla_org"](restored) + w[:, 1:] * stages["cla_res"](restored)
    np.testing.assert_allclose(out["probabilities"], p, atol=1e-6)
    np.testing.assert_allclose(out["weights"], w, atol=1e-6)
    np.testing.assert_allclose(out["level"], np.asarray(level) * 100, atol=1e-4)  # QF units
    np.testing.assert_allclose(np.sum(out["probabilities"], axis=1), 1, atol=1e-5)


def test_ens_cla_picks_the_more_confident(stages, batch):
    model = build_composite("ens_cla", stages, "jpeg")
    x = batch.astype(np.float32) / 255
    pa, pb = np.asarray(stages["cla_org"](x)), np.asarray(stages["cla_deg"](x))
    got = np.asarray(model(batch.astype(np.float32)))
    for a, b, g in zip(pa, pb, got):
        np.testing.assert_allclose(g, a if a.max() >= b.max() else b, atol=1e-6)
    # The rule must select per sample, not per batch: the batch holds samples won by each classifier.
    assert {bool(a.max() >= b.max()) for a, b in zip(pa, pb)} == {True, False}


def test_sequential_and_alone(stages, batch):
    x = batch.astype(np.float32) / 255
    seq_res, cla_res = (np.asarray(stages["cla_res"](im)) for im in (stages["restoration"](x), x))
    assert np.abs(seq_res - cla_res).max() > 1e-4  # restoring changes the answer, so skipping it would show
    np.testing.assert_allclose(build_composite("seq_res", stages, "jpeg")(batch.astype(np.float32)),
                               stages["cla_res"](stages["restoration"](x)), atol=1e-6)
    np.testing.assert_allclose(build_composite("cla_deg", stages, "jpeg")(batch.astype(np.float32)),
                               stages["cla_deg"](x), atol=1e-6)


@pytest.mark.parametrize("name", NETWORKS)
def test_frozen_sub_models_have_no_trainable_weights(name):
    fresh = random_stages()  # built here, not shared: the test is whether building the composite freezes them
    model = build_composite(name, fresh, "jpeg")
    frozen = set(required_stages(name)) - {"weight_net"}
    for stage in frozen:
        assert not fresh[stage].trainable_weights
    if name == "proposed":  # only the weight net may train inside Proposed
        assert {id(v) for v in model.trainable_weights} == {id(v) for v in fresh["weight_net"].trainable_weights}
    else:
        assert not model.trainable_weights


def test_unknown_network():
    with pytest.raises(ValueError, match="choose one of"):
        build_composite("vgg", {}, "jpeg")


def test_savedmodel_round_trip_of_proposed(stages, batch, tmp_path):
    model = build_composite("proposed", stages, "jpeg")
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    got = loaded.serve(tf.constant(batch, tf.float32))
    want = model(batch.astype(np.float32))
    for key in ("probabilities", "level", "weights"):
        np.testing.assert_allclose(got[key].numpy(), np.asarray(want[key]), atol=1e-5)


# -- numerical safety: extreme pixels, levels and logits ----------------------------------------------
def _batch():
    rng = np.random.default_rng(0)
    return np.stack([np.zeros((32, 32, 3)), np.full((32, 32, 3), 255.0),
                     rng.integers(0, 256, (32, 32, 3)), rng.normal(128, 500, (32, 32, 3)),  # way outside 0..255
                     np.full((32, 32, 3), -1e6), np.full((32, 32, 3), 1e6)]).astype(np.float32)


def _check_outputs(out, n):
    probs, weights, level = (np.asarray(out[k]) for k in ("probabilities", "weights", "level"))
    assert probs.shape == (n, 10) and weights.shape == (n, 2) and level.shape == (n, 1)
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(weights)) and np.all(np.isfinite(level))
    assert np.all(weights >= 0) and np.all(weights <= 1)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-6)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    return weights


@pytest.mark.parametrize("degradation", ["jpeg", "gaussian"])
@pytest.mark.parametrize("level_bias", [None, -1e6, -50.0, 50.0, 1e6])
def test_proposed_outputs_stay_valid(degradation, level_bias):
    """All-0, all-255, noise and far-out-of-range pixels; estimated levels far outside the level range."""
    model = build_composite("proposed", steep_stages(degradation, level_bias), degradation)
    _check_outputs(model(_batch()), len(_batch()))


def test_nan_pixel_poisons_only_its_own_sample():
    model = build_composite("proposed", steep_stages(), "jpeg")
    batch = _batch()
    batch[0, 3, 4, 1] = np.nan
    out = {k: np.asarray(v) for k, v in model(batch).items()}
    assert all(np.all(np.isnan(v[0])) for v in out.values())
    _check_outputs({k: v[1:] for k, v in out.items()}, len(batch) - 1)


def test_extreme_logits_still_sum_to_one():
    """A classifier with huge logits (an over-confident net): softmax is stable, no inf/NaN."""
    stages = steep_stages()
    head = stages["cla_res"].layers[-1]
    head.bias.assign(np.linspace(-1e4, 1e4, head.bias.shape[0]).astype(np.float32))
    out = build_composite("proposed", stages, "jpeg")(_batch())
    _check_outputs(out, len(_batch()))
