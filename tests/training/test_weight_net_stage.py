"""keras_irdi.training.weight_net_stage: what the weight net trains on, and that training it on cached outputs is
training it inside Proposed."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_irdi.models.composites import proposed_tail
from keras_irdi.presets import get_preset
from keras_irdi.runs.config import RunConfig
from keras_irdi.training.weight_net_stage import ensemble_inputs
from helpers import random_stages


@pytest.mark.parametrize("members, features", [(("seq_org", "seq_res"), "level"),
                                                (("seq_org", "seq_res", "cla_deg"), "confidence"),
                                                (("seq_org", "seq_res"), "probabilities")])
def test_weight_net_training_on_cached_outputs_equals_training_inside_proposed(members, features):
    from keras_irdi.models import build_weight_net
    from keras_irdi.models.composites import build_composite

    stages = random_stages(classifier_filters=(4, 4, 4), classifier_dense=4, classifier_dropout=0.0)
    stages["weight_net"] = build_weight_net(hidden=(4,), members=members, features=features)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    y = np.arange(8) % 10
    loss = keras.losses.SparseCategoricalCrossentropy()
    proposed = build_composite("proposed", stages, "jpeg")
    cached = ensemble_inputs(stages, x, members)
    assert cached["member_probs"].shape == (8, len(members), 10)
    tail = proposed_tail(stages["weight_net"])
    with tf.GradientTape(persistent=True) as tape:
        full = loss(y, proposed(x.astype(np.float32))["probabilities"])
        short = loss(y, tail([cached["level"], cached["member_probs"]]))
    np.testing.assert_allclose(float(full), float(short), rtol=1e-5)
    grads = [(tape.gradient(full, w), tape.gradient(short, w)) for w in stages["weight_net"].trainable_weights]
    assert any(np.abs(np.asarray(a)).max() > 0 for a, _ in grads)  # equal zeros would prove nothing
    for a, b in grads:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("split", ["train", "validation"])
def test_weight_net_images_come_from_the_split_the_preset_names(split):
    """'validation': the held-out images only, levels_per_image independent copies each, the last fifth kept
    to monitor the fit; 'train': the classifiers' training images (the paper). No image is in both sets."""
    from keras_irdi.training.weight_net_stage import weight_net_images

    preset = get_preset("smoke")
    preset.weight_net.train_split, preset.weight_net.levels_per_image, preset.weight_net.train_images = split, 3, 6
    config = RunConfig(degradation="jpeg", preset=preset, seed=1)
    rng = np.random.default_rng(0)
    # Disjoint labels (the function only indexes them), and training images of one grey each, their label's
    # (augmentation and JPEG keep a flat image flat): a label tells which split, and which image, it came with.
    grey = 21 * np.arange(12)
    d = {"x_train": np.broadcast_to(grey[:, None, None, None], (12, 32, 32, 3)).astype(np.uint8),
         "y_train": 100 + np.arange(12),
         "x_val": rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), "y_val": 200 + np.arange(10)[::-1]}
    x_fit, y_fit, x_mon, y_mon = weight_net_images(config, d)
    if split == "validation":
        assert len(x_fit) == 8 * 3 and len(x_mon) == 2
        np.testing.assert_array_equal(y_fit, np.tile(d["y_val"][:8], 3))
        np.testing.assert_array_equal(y_mon, d["y_val"][8:])
        copies = x_fit.reshape(3, 8, *x_fit.shape[1:]).astype(int)
        assert np.abs(copies[0] - copies[1]).mean() > 0  # independent levels, not one copy three times
        # Each copy is a JPEG of its own validation image (close to it), not of a training image.
        assert np.abs(copies[0] - d["x_val"][:8].astype(int)).mean() < np.abs(copies[0] - d["x_train"][:8]).mean()
    else:
        assert len(x_fit) == 6 and len(x_mon) == 10
        np.testing.assert_array_equal(y_mon, d["y_val"])
        assert set(y_fit.tolist()) <= set(d["y_train"].tolist()) and len(set(y_fit.tolist())) == 6
        # each fitted image is its own label's grey: greys 21 apart, and JPEG moves a flat one by a few levels at
        # the qualities this seed draws (up to 16 at QF 1-4, which it does not draw)
        np.testing.assert_allclose(x_fit.reshape(6, -1).mean(axis=1), grey[y_fit - 100], atol=10)
        assert np.abs(x_mon.astype(int) - d["x_val"]).mean() < np.abs(x_mon.astype(int) - d["x_val"][::-1]).mean()
