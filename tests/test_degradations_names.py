"""How messages name a degradation's level (keras_irdi/degradations.py level_name): once, never "blur blur sigma"."""
import argparse

import pytest

from keras_irdi.degradations import DEGRADATIONS, get_degradation
from keras_irdi.serving.predict import parse_degrade


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_level_errors_name_the_degradation_once(kind):
    deg = get_degradation(kind)
    messages = []
    for spec in (f"{kind}:abc", f"{kind}:{deg.high + 1:g}", f"{kind}:-1"):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            parse_degrade(spec)
        messages.append(str(err.value))
    with pytest.raises(ValueError) as err:
        deg.check([deg.high + 1])
    messages.append(str(err.value))
    for m in messages:
        assert f"{kind} {kind}" not in m, m
        assert m.startswith(deg.level_name), m
    assert get_degradation("blur").level_name == "blur sigma (pixels)"
    assert get_degradation("jpeg").level_name == "jpeg quality factor"
