"""The six stages as random-weight models: the stand-ins the tests and the benchmarks build (no training).

One builder, so a seed means one set of weights wherever the stages are built (tests/helpers.py, bench/).
"""
from __future__ import annotations


def random_stages(degradation: str = "jpeg", num_classes: int = 10, seed: int = 0, *,
                  restoration_filters: int = 4, estimator_filters: int = 4, weight_hidden=(4,),
                  classifier_filters=(4, 8, 8), classifier_dense: int = 8, classifier_dropout: float = 0.5) -> dict:
    """The six stages as random-weight models, built in one order from one seed, so a seed means one set
    of weights. The defaults are tiny (seconds to build): the tests' stages and their `tiny_run`. The restoration
    net's last layer is random too (a trained net starts at zero, the identity): a restoration that changes the
    image is what lets a test tell a network that restores before classifying from one that does not."""
    import keras

    from keras_irdi.degradations import get_degradation
    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net, build_weight_net

    keras.utils.set_random_seed(seed)
    classifier = dict(num_classes=num_classes, filters=classifier_filters, dense_units=classifier_dense,
                      dropout=classifier_dropout)
    stages = {"restoration": build_restoration_net(restoration_filters),
              "estimator": build_level_estimator(estimator_filters),
              "weight_net": build_weight_net(unit=get_degradation(degradation).unit, hidden=weight_hidden),
              **{name: build_classifier(name=name, **classifier) for name in ("cla_org", "cla_deg", "cla_res")}}
    _randomise_last_layer(stages["restoration"], seed)
    return stages


def _randomise_last_layer(net, seed: int) -> None:
    """He-normal weights for the zero-initialised last conv, drawn from a generator of their own: the other
    stages keep the weights this seed has always given them."""
    import numpy as np

    last = [layer for layer in net.layers if layer.weights][-1]
    kernel, bias = last.get_weights()
    fan_in = int(np.prod(kernel.shape[:-1]))
    rng = np.random.default_rng(seed)
    last.set_weights([rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(kernel.dtype), bias])
