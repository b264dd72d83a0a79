"""keras-irdi: classifying degraded images over various levels of degradation (Endo et al., ICIP 2020)."""
from keras_irdi.degradations import DEGRADATIONS, degrade, get_degradation

__version__ = "1.0.0"
__all__ = ["DEGRADATIONS", "degrade", "get_degradation", "__version__"]
