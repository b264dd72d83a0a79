"""The four networks: layer structure as in the paper/lab code, and one step on real data learns."""
import keras
import numpy as np
import pytest

from keras_irdi.data.cifar import load_cifar
from keras_irdi.data.images import extract_patches, load_image_folder
from keras_irdi.degradations import degrade, get_degradation
from keras_irdi.models import (PSNRLoss, build_classifier, build_level_estimator, build_restoration_net,
                               build_weight_net)
from helpers import steep_stages


def convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def no_batchnorm(model):
    return not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


@pytest.mark.parametrize("builder,out_channels", [(build_restoration_net, 3), (build_level_estimator, 1)])
def test_dilated_bodies(builder, out_channels):
    model = builder(64)
    c = convs(model)
    assert [layer.dilation_rate[0] for layer in c] == [1, 2, 3, 4, 3, 2, 1]
    assert all(layer.filters == 64 for layer in c[:-1]) and c[-1].filters == out_channels
    assert all(layer.kernel_size == (3, 3) and layer.padding == "same" for layer in c)
    assert no_batchnorm(model)
    # Fully convolutional: any HxW.
    for h, w in [(32, 32), (48, 20)]:
        y = model(np.zeros((1, h, w, 3), np.float32))
        assert y.shape == ((1, h, w, 3) if out_channels == 3 else (1, 1))


def test_restoration_is_residual_and_clipped():
    model = build_restoration_net(8)
    for layer in convs(model):  # zero body -> identity mapping
        layer.kernel.assign(np.zeros(layer.kernel.shape))
        layer.bias.assign(np.zeros(layer.bias.shape))
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x), x, atol=1e-6)
    convs(model)[-1].bias.assign(np.full(3, -5.0))  # residual -5 -> output clipped to 1
    assert float(np.max(model(x))) == 1.0


def test_restoration_starts_as_identity():
    x = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(build_restoration_net(8)(x), x, atol=1e-6)
    assert np.abs(np.asarray(build_restoration_net(8, zero_init_residual=False)(x)) - x).max() > 1e-3


def test_estimator_uses_global_average_pooling():
    model = build_level_estimator(8)
    assert isinstance(model.layers[-1], keras.layers.GlobalAveragePooling2D)


def test_classifier_structure():
    model = build_classifier(num_classes=10)
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)]
    assert [d.rate for d in drops] == [0.0625, 0.125, 0.25]
    pools = [layer for layer in convs(model) if layer.strides == (2, 2)]
    assert len(pools) == 2 and all(layer.kernel_size == (2, 2) and layer.padding == "valid" for layer in pools)
    pooling = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    assert not any(isinstance(layer, pooling) for layer in model.layers)
    assert [layer.filters for layer in convs(model) if layer.strides == (1, 1)] == [64, 64, 128, 128, 256, 256]
    assert no_batchnorm(model)
    assert model.output_shape == (None, 10)


def test_classifier_batchnorm_normalises_every_conv_before_its_relu():
    """The option the paper's net lacks: each conv (bias-free, BN has its own shift) feeds a BN, then a ReLU."""
    model = build_classifier(num_classes=10, filters=(8, 16, 32), dense_units=16, batchnorm=True)
    plain = build_classifier(num_classes=10, filters=(8, 16, 32), dense_units=16)
    assert [c.name for c in convs(model)] == [c.name for c in convs(plain)]
    for c in convs(model):
        bn, relu = model.get_layer(f"{c.name}_bn"), model.get_layer(f"{c.name}_relu")
        assert not c.use_bias and c.activation is keras.activations.linear
        assert isinstance(bn, keras.layers.BatchNormalization) and bn.input is c.output
        assert isinstance(relu, keras.layers.ReLU) and relu.input is bn.output
    x = np.random.default_rng(0).random((16, 32, 32, 3)).astype(np.float32)
    conv1 = keras.Model(model.input, model.get_layer("conv1a_bn").output)
    y = np.asarray(conv1(x, training=True))
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-3)  # normalised per channel over the batch
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=0.05)


@pytest.mark.parametrize("kind", ["jpeg", "gaussian"])
def test_weight_net_outputs_are_convex_weights(kind):
    deg = get_degradation(kind)
    net = build_weight_net(unit=deg.unit)
    levels = deg.normalize(np.linspace(-10 * deg.high, 10 * deg.high, 101)).reshape(-1, 1)
    levels = np.concatenate([levels, [[1e6], [-1e6], [0.0]]]).astype(np.float32)
    w = np.asarray(net(levels))
    assert w.shape == (len(levels), 2) and np.all(np.isfinite(w))
    assert np.all(w >= 0) and np.all(w <= 1)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("features", ["confidence", "probabilities"])
def test_weight_net_with_features_gives_convex_weights_per_member_and_per_image(features, tmp_path):
    """Three members, level + what the members predict: one weight per member, convex for any input, and two
    images at one level may be weighted differently (the journal variant's point). The member ids survive
    saving, so a loaded net still says what it mixes."""
    from keras_irdi.models.weights import needs_member_probs, weight_net_members

    members = ("seq_org", "seq_res", "cla_deg")
    net = build_weight_net(unit=1.0, hidden=(8,), members=members, features=features)
    rng = np.random.default_rng(0)
    level = np.full((16, 1), 0.3, np.float32)
    probs = rng.dirichlet(np.full(10, 0.3), size=(16, 3)).astype(np.float32)
    probs[0] = 0  # a degenerate (all-zero) vector must not give NaN through the entropy
    w = np.asarray(net([level, probs]))
    assert w.shape == (16, 3) and np.all(np.isfinite(w)) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert np.ptp(w[1:, 0]) > 1e-4  # same level, different images, different weights
    net.save(tmp_path / "w.keras")
    loaded = keras.models.load_model(tmp_path / "w.keras")
    assert weight_net_members(loaded) == members and needs_member_probs(loaded)
    np.testing.assert_allclose(np.asarray(loaded([level, probs])), w, atol=1e-6)


def test_weight_net_without_member_record_is_the_papers_two_member_net():
    from keras_irdi.models.weights import needs_member_probs, weight_net_members

    level = keras.Input((1,))
    old = keras.Model(level, keras.layers.Dense(2, activation="softmax")(level))
    assert weight_net_members(old) == ("seq_org", "seq_res") and not needs_member_probs(old)
    assert weight_net_members(build_weight_net(members=("seq_res", "seq_org"))) == ("seq_res", "seq_org")


def _one_step_lowers_loss(model, x, y, loss, lr=0.002):
    model.compile(keras.optimizers.Adamax(lr), loss=loss)
    before = model.evaluate(x, y, verbose=0)
    model.train_on_batch(x, y)
    after = model.evaluate(x, y, verbose=0)
    assert after < before, (before, after)


@pytest.mark.slow
def test_one_step_on_real_data_lowers_loss(cifar_dir, clean_dir):
    keras.utils.set_random_seed(0)
    data = load_cifar("cifar10", cifar_dir=str(cifar_dir), limit_train=64, limit_test=1)
    x = data["x_train"].astype(np.float32) / 255
    _one_step_lowers_loss(build_classifier(filters=(8, 16, 32), dense_units=32), x, data["y_train"],
                          "sparse_categorical_crossentropy")
    patches = extract_patches(load_image_folder(clean_dir)[:4], size=32, stride=32, augment=False,
                              max_patches=16)
    q = np.arange(16) * 6 + 5
    degraded = degrade(patches, "jpeg", q).astype(np.float32) / 255
    # Starts as the identity: Adamax's first step moves every weight by ~lr, so a small lr.
    _one_step_lowers_loss(build_restoration_net(16), degraded, patches.astype(np.float32) / 255, "mse", lr=1e-5)
    _one_step_lowers_loss(build_level_estimator(16), degraded, (q / 100).reshape(-1, 1), "mse")
    net = build_weight_net()
    level = (q / 100).reshape(-1, 1).astype(np.float32)
    target = np.stack([q > 50, q <= 50], axis=1).astype(np.float32)  # "trust the clean one at high QF"
    _one_step_lowers_loss(net, level, target, "categorical_crossentropy")


def test_weight_net_extreme_levels_saturate_and_nan_propagates():
    """+-1e6, +-inf, float32 max: finite convex weights (tanh saturates). NaN is not hidden: it gives NaN
    weights, so a broken estimate cannot pass for a confident one (uint8 images cannot produce it)."""
    net = steep_stages("gaussian")["weight_net"]
    levels = np.array([[-np.inf], [-3.4e38], [-1e6], [-1.0], [0.0], [0.2], [1.0], [1e6], [3.4e38], [np.inf]],
                      np.float32)
    w = np.asarray(net(levels))
    assert np.all(np.isfinite(w)) and np.all((w >= 0) & (w <= 1))
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(w[0], w[2], atol=1e-6)  # saturated: -inf behaves like -1e6
    np.testing.assert_allclose(w[-1], w[-3], atol=1e-6)
    assert np.abs(w[2] - w[-3]).max() > 0.05  # and the two ends differ: the net does respond to the level
    assert np.all(np.isnan(np.asarray(net(np.array([[np.nan]], np.float32)))))


def _traced_ops(layer, x):
    import tensorflow as tf
    return {op.type for op in tf.function(layer).get_concrete_function(x).graph.get_operations()}


def test_dilated_conv_runs_as_one_op_with_keras_numbers(monkeypatch, tmp_path):
    """The oneDNN fast path: same outputs and gradients as Keras's Conv2D, no space-to-batch, saves as itself."""
    import tensorflow as tf
    from keras_irdi.models import _body
    assert _body._pywrap_util_port.IsMklEnabled(), "tests run with oneDNN on, as the CLIs do (tfenv)"
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 20, 24, 5)), tf.float32)
    fast = _body.DilatedConv2D(4, 3, padding="same", dilation_rate=3, activation="relu")
    ref = keras.layers.Conv2D(4, 3, padding="same", dilation_rate=3, activation="relu")
    fast.build(x.shape), ref.build(x.shape)
    ref.set_weights([w + 0.1 for w in fast.get_weights()]), fast.set_weights(ref.get_weights())

    def value_and_grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return [y, *tape.gradient(loss, [x, layer.kernel, layer.bias])]

    for a, b in zip(value_and_grads(fast), value_and_grads(ref)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    assert "SpaceToBatchND" in _traced_ops(ref, x) and "SpaceToBatchND" not in _traced_ops(fast, x)
    monkeypatch.setattr(_body._pywrap_util_port, "IsMklEnabled", lambda: False)
    assert "SpaceToBatchND" in _traced_ops(_body.DilatedConv2D(4, 3, padding="same", dilation_rate=3), x)

    model = build_restoration_net(8)
    model.save(tmp_path / "r.keras")
    loaded = keras.models.load_model(tmp_path / "r.keras", compile=False)
    assert [type(layer) for layer in convs(loaded)] == [_body.DilatedConv2D] * 7
    np.testing.assert_allclose(loaded(x[..., :3]).numpy(), model(x[..., :3]).numpy(), atol=1e-6)


# -- the restoration net's loss ----------------------------------------------------------------------
def test_psnr_loss_is_per_image_log_mse():
    rng = np.random.default_rng(0)
    clean = rng.random((2, 8, 8, 3)).astype(np.float32)
    err = np.stack([np.full((8, 8, 3), 0.1), np.full((8, 8, 3), 0.01)]).astype(np.float32)
    per_image = PSNRLoss(cap_db=50.0, reduction=None)
    loss = np.asarray(per_image(clean, clean + err))
    np.testing.assert_allclose(loss, 10 * np.log10(np.array([0.01, 0.0001]) + 1e-5), rtol=1e-5)
    # Halving the error lowers the loss by 5-6 dB at either level, where MSE would drop 100x less for the
    # nearly clean image: it counts about as much as the damaged one.
    halved = np.asarray(per_image(clean, clean + err / 2))
    expected = 10 * np.log10(np.array([0.01 + 1e-5, 1e-4 + 1e-5]) / np.array([0.0025 + 1e-5, 2.5e-5 + 1e-5]))
    np.testing.assert_allclose(loss - halved, expected, rtol=1e-4)
    assert np.all((4.9 < loss - halved) & (loss - halved < 6.1))


def test_psnr_cap_bounds_the_weight_of_nearly_clean_images():
    """The cap is where the log flattens: an image restored to 60 dB counts no more than one at the cap,
    so images the degradation left nearly intact cannot hold the net at the identity."""
    clean = np.zeros((3, 4, 4, 3), np.float32)
    err = np.stack([np.full((4, 4, 3), e) for e in (0.1, 1e-3, 0.0)]).astype(np.float32)  # 20, 60, inf dB
    capped = np.asarray(PSNRLoss(cap_db=30.0)(clean, clean + err[:1]))
    np.testing.assert_allclose(capped, 10 * np.log10(0.01 + 1e-3), rtol=1e-5)
    per_image = np.asarray(PSNRLoss(cap_db=30.0, reduction=None)(clean, clean + err))
    np.testing.assert_allclose(per_image, 10 * np.log10(np.array([0.01, 1e-6, 0.0]) + 1e-3), rtol=1e-4)
    assert per_image[1] - per_image[2] < 0.005  # 60 dB and a perfect image: the same to within 0.005 dB
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(PSNRLoss(cap_db=30.0)))
    assert restored.cap_db == 30.0
