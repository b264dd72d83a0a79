"""The paper's four networks (one builder per file) and the composites built from them."""
from keras_irdi.models.classifier import build_classifier
from keras_irdi.models.estimator import build_level_estimator
from keras_irdi.models.restoration import PSNRLoss, build_restoration_net
from keras_irdi.models.weights import build_weight_net

__all__ = ["build_classifier", "build_level_estimator", "build_restoration_net", "build_weight_net", "PSNRLoss"]
