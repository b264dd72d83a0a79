"""The six stages as random-weight models: the stand-ins the tests and the benchmarks build (no training).

One builder, so a seed means one set of weights wherever the stages are built (tests/helpers.py, bench/).
"""
from __future__ import annotations


def random_stages(degradation: str = "jpeg", num_classes: int = 10, seed: int = 0, *,
                  restoration_filters: int = 4, estimator_filters: int = 4, weight_hidden=(4,),
                  classifier_filters=(4, 8, 8), classifier_dense: int = 8, classifier_dropout: float = 0.5) -> dict:
    """The six stages as random-weight models, built in one order from one seed, so a seed means one set
    of weights. The defaults are tiny (seconds to build): the tests' stages and their `tiny_run`."""
    import keras

    from keras_irdi.degradations import get_degradation
    from keras_irdi.models import build_classifier, build_level_estimator, build_restoration_net, build_weight_net

    keras.utils.set_random_seed(seed)
    classifier = dict(num_classes=num_classes, filters=classifier_filters, dense_units=classifier_dense,
                      dropout=classifier_dropout)
    return {"restoration": build_restoration_net(restoration_filters),
            "estimator": build_level_estimator(estimator_filters),
            "weight_net": build_weight_net(unit=get_degradation(degradation).unit, hidden=weight_hidden),
            **{name: build_classifier(name=name, **classifier) for name in ("cla_org", "cla_deg", "cla_res")}}
