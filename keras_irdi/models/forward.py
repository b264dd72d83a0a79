"""Every sub-model once per batch, and the six networks' outputs derived from them.

The sweep (keras_irdi.evaluation.level_sweep) runs it per level; the weight-net stage
(keras_irdi.training.stages) uses its frozen part, so Proposed's forward pass is written once. ``calls``
counts sub-model invocations, so tests and the benchmark can check the sharing.
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
        self.mix = WeightedMix()

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

    def __call__(self, degraded_uint8: np.ndarray, true_level: np.ndarray | None = None) -> dict:
        """``true_level``: the normalised level of each image (estimator units), for the oracle row."""
        x = degraded_uint8.astype(np.float32) / 255.0
        frozen = self.proposed_inputs(x)
        restored, level = frozen["restored"], frozen["level"]
        weights = self._run("weight_net", level)
        out = {"cla_org": self._run("cla_org", x), "cla_deg": self._run("cla_deg", x),
               "seq_org": frozen["seq_org"], "seq_res": frozen["seq_res"]}
        out["ens_cla"] = np.asarray(self.max_confidence([out["cla_org"], out["cla_deg"]]))
        out["proposed"] = np.asarray(self.mix([weights, out["seq_org"], out["seq_res"]]))
        if true_level is not None:
            oracle_weights = self._run("weight_net", np.asarray(true_level, np.float32).reshape(-1, 1))
            out["proposed_oracle"] = np.asarray(self.mix([oracle_weights, out["seq_org"], out["seq_res"]]))
        out.update(restored=restored, level=level[:, 0], weights=weights)
        return out
