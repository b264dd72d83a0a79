"""models.precision.reduced_copy: a saved float32 stage computing in mixed bfloat16 again, exactly as the
network its builder makes under the bfloat16 policy (the float32 tail included)."""
import numpy as np
import pytest

from keras_irdi.models.classifier import build_classifier
from keras_irdi.models.estimator import build_level_estimator
from keras_irdi.models.precision import float32_copy, precision_policy, reduced_copy
from keras_irdi.models.restoration import build_restoration_net

BUILDERS = {"classifier": lambda: build_classifier(10, (8, 16, 32), 32),
            "restoration": lambda: build_restoration_net(8), "estimator": lambda: build_level_estimator(8)}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_reduced_copy_computes_as_the_builder_under_the_policy(name):
    with precision_policy("bfloat16"):
        built = BUILDERS[name]()
    copy = reduced_copy(float32_copy(built), "bfloat16")
    weighted = {layer.name: layer.dtype_policy.name for layer in built.layers if layer.weights}
    assert {layer.name: layer.dtype_policy.name for layer in copy.layers if layer.weights} == weighted
    last = built.outputs[0]._keras_history.operation.name
    assert copy.get_layer(last).dtype_policy.name == "float32"  # the pinned tail: softmax, image, level
    assert "mixed_bfloat16" in weighted.values()
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    assert np.array_equal(built.predict_on_batch(x), copy.predict_on_batch(x))
    assert str(copy.outputs[0].dtype) == "float32"


def test_float32_is_the_saved_model_itself():
    model = build_level_estimator(8)
    assert reduced_copy(model, "float32") is model
