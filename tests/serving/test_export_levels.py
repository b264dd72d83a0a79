"""The reported level stays in the degradation's range (keras_irdi/export.py ServingModule), whatever the
estimator outputs: predict, serving_default and serve_bytes all report through it."""
import numpy as np
import pytest

from helpers import steep_stages
from keras_irdi.degradations import get_degradation
from keras_irdi.serving.export import ServingModule
from keras_irdi.models.composites import build_composite


@pytest.mark.parametrize("degradation", ["jpeg", "gaussian"])
@pytest.mark.parametrize("bias", [50.0, -50.0, 0.7])
def test_reported_level_is_clipped_to_the_range(degradation, bias):
    deg = get_degradation(degradation)
    stages = steep_stages(degradation, level_bias=bias)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    raw = float(np.asarray(stages["estimator"](images[:1].astype(np.float32) / 255.0)).ravel()[0]) * deg.scale
    names = [f"c{i}" for i in range(10)]
    for network, estimator in (("proposed", None), ("cla_org", stages["estimator"])):
        composite = build_composite(network, stages, degradation)
        module = ServingModule(network, composite, names, degradation, 32, estimator=estimator)
        level = module.serving_default(images=images)["estimated_level"].numpy()
        assert np.all((deg.low <= level) & (level <= deg.high)), (network, level)
        np.testing.assert_allclose(level, np.clip(raw, deg.low, deg.high), rtol=1e-4, atol=1e-3)
    no_estimator = ServingModule("cla_org", build_composite("cla_org", stages, degradation), names, degradation, 32)
    assert no_estimator.serving_default(images=images)["estimated_level"].numpy().tolist() == [-1.0] * 3
