"""The six networks of the paper's tables: their ids and display names, the one place that lists them.

Plain data (no TensorFlow), so the sweep, the tables, the figures, the CLIs' option lists and the tests all
take the ids from here; ``keras_irdi.models.composites`` builds the Keras model of each.
"""
from __future__ import annotations

from keras_irdi.degradations import get_degradation

# Display name of each network, in the column order of the paper's tables; {tag} is the degradation's
# (Cla(jpg), Cla(Gauss)).
_DISPLAY = {"cla_org": "Cla(org)", "cla_deg": "Cla({tag})", "seq_org": "Seq(org)", "seq_res": "Seq(res)",
            "ens_cla": "Ens(Cla)", "proposed": "Proposed"}
NETWORKS: tuple[str, ...] = tuple(_DISPLAY)
# Proposed fed the true level instead of the estimate: a row of the sweep (what a perfect estimator would
# buy), not one of the six networks.
ORACLE = "proposed_oracle"
ORACLE_DISPLAY = "Proposed (true level)"


def display_names(degradation: str) -> tuple[str, ...]:
    """Display names of the six networks in ``NETWORKS`` order, e.g. Cla(jpg) for the JPEG Cla(deg)."""
    tag = get_degradation(degradation).tag
    return tuple(name.format(tag=tag) for name in _DISPLAY.values())

# What a weight net may mix (Proposed's members: a network id, fed as in that network) and read besides the
# level; the builder is keras_irdi.models.weights.
WEIGHT_MEMBERS: tuple[str, ...] = ("seq_org", "seq_res", "cla_deg")
WEIGHT_FEATURES: tuple[str, ...] = ("level", "confidence", "probabilities")
# The name of each member's weight in outputs and files (the paper's two: w_org, w_res).
WEIGHT_COLUMNS = {"seq_org": "w_org", "seq_res": "w_res", "cla_deg": "w_deg"}


def weight_columns(members) -> list[str]:
    """Names of a weight net's output columns, in its members' order."""
    return [WEIGHT_COLUMNS[m] for m in members]
