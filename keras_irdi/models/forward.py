"""Every sub-model once per batch, and the six networks' outputs derived from them.

The sweep (keras_irdi.evaluation.level_sweep) runs it per level; the weight-net stage
(keras_irdi.training.stages) uses its frozen part, so Proposed's forward pass is written once. ``calls``
counts sub-model invocations, so tests and the benchmark can check the sharing. ``restore_array`` runs the
frozen restoration over a whole array (Cla(res)'s training images, the quality gate's fit).
"""
from __future__ import annotations

from collections import Counter

import numpy as np


class SharedForward:
    """Runs every sub-model once on a degraded batch and derives all six networks' outputs."""

    def __init__(self, stages: dict):
        from keras_irdi.models.composites import MaxConfidence, WeightedMix

        self.stages = stages
        self.calls = Counter()
        self.max_confidence = MaxConfidence()
        self.mix_layer = WeightedMix()

    def _run(self, name, x):
        self.calls[name] += 1
        return np.asarray(self.stages[name].predict_on_batch(x))

    def proposed_inputs(self, x: np.ndarray) -> dict:
        """Proposed's frozen part on a [0,1] batch: restored images, estimated level, Seq(org), Seq(res).

        What the weight net is trained on (keras_irdi.training.stages) and what the sweep mixes.
        """
        restored = self._run("restoration", x)
        return {"restored": restored, "level": self._run("estimator", x),
                "seq_org": self._run("cla_org", restored), "seq_res": self._run("cla_res", restored)}

    def member_inputs(self, x: np.ndarray, members) -> dict:
        """What the weight net trains on, for a [0,1] batch: the estimated level and the members'
        probabilities stacked as (B, members, classes)."""
        out = self.proposed_inputs(x)
        if "cla_deg" in members:  # fed the degraded image
            out["cla_deg"] = self._run("cla_deg", x)
        return {"level": out["level"], "member_probs": _stack(out, members)}

    def weight_columns(self) -> dict:
        """{sweep column: index of that member's weight, or None if the weight net does not mix it}."""
        from keras_irdi.models.weights import weight_net_members
        from keras_irdi.network_ids import WEIGHT_COLUMNS

        members = weight_net_members(self.stages["weight_net"])
        return {col: members.index(m) if m in members else None for m, col in WEIGHT_COLUMNS.items()}

    def mix(self, level: np.ndarray, out: dict) -> tuple[np.ndarray, np.ndarray]:
        """Proposed's weights and probabilities from the level and the members' outputs in ``out``.

        The members are those the weight net names (the paper: Seq(org), Seq(res))."""
        from keras_irdi.models.weights import needs_member_probs, weight_net_members

        net = self.stages["weight_net"]
        member_probs = _stack(out, weight_net_members(net))
        weights = self._run("weight_net", [level, member_probs] if needs_member_probs(net) else level)
        return weights, np.asarray(self.mix_layer([weights, member_probs]))

    def __call__(self, degraded_uint8: np.ndarray, true_level: np.ndarray | None = None) -> dict:
        """``true_level``: the normalised level of each image (estimator units), for the oracle row."""
        x = degraded_uint8.astype(np.float32) / 255.0
        frozen = self.proposed_inputs(x)
        restored, level = frozen["restored"], frozen["level"]
        out = {"cla_org": self._run("cla_org", x), "cla_deg": self._run("cla_deg", x),
               "seq_org": frozen["seq_org"], "seq_res": frozen["seq_res"]}
        out["ens_cla"] = np.asarray(self.max_confidence([out["cla_org"], out["cla_deg"]]))
        weights, out["proposed"] = self.mix(level, out)
        if true_level is not None:
            _, out["proposed_oracle"] = self.mix(np.asarray(true_level, np.float32).reshape(-1, 1), out)
        out.update(restored=restored, level=level[:, 0], weights=weights)
        return out


def _stack(outputs: dict, members) -> np.ndarray:
    """The members' probabilities as (B, members, classes), in the weight net's column order."""
    return np.stack([outputs[m] for m in members], axis=1)


def restore_array(restoration, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Frozen restoration of a uint8 array (one image size) -> float32 [0,1], unrounded (what Seq(res) and
    Proposed feed on, and what the quality gate mixes). A direct call, not predict_on_batch: under a
    MirroredStrategy that would return the batch once per replica."""
    out = np.empty(images_uint8.shape, np.float32)
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i:i + batch_size].astype(np.float32) / 255.0
        out[i:i + batch_size] = np.asarray(restoration(x, training=False))
    return out
