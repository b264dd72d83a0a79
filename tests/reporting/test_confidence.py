"""Paired bootstrap intervals of the claims: per-image correctness in, holds / fails / tie out."""
import numpy as np
import pytest

from keras_irdi.reporting import confidence
from keras_irdi.reporting.claims import claim_verdicts
from keras_irdi.network_ids import NETWORKS
from keras_irdi.reporting.sweep_files import read_sweep
from sweep_csv import jpeg_row, write_sweep

LEVELS = np.arange(1, 101, dtype=float)


def _correct(rate, n=1000, seed=0):
    """(levels, images) correctness with about ``rate`` right, the same images right at every level."""
    right = np.random.default_rng(seed).random(n) < rate
    return np.tile(right, (len(LEVELS), 1))


def test_roundtrip_and_ci_bounds(tmp_path):
    correct = {"a": _correct(0.8), "b": _correct(0.6, seed=1)}
    path = tmp_path / "x_correct.npz"
    confidence.write_correct(path, LEVELS, correct)
    per_image = confidence.PerImage.read(path)
    np.testing.assert_array_equal(per_image.correct["a"], correct["a"])  # bit packing is lossless
    diff, lo, hi = per_image.diff_ci("a", "b", 1, 20)
    assert diff == pytest.approx(correct["a"][0].mean() - correct["b"][0].mean())
    assert lo < diff < hi
    # Two independent accuracies near 0.7 on 1000 images: the CI of the difference is about +-0.04.
    assert 0.05 < hi - lo < 0.12
    assert confidence.verdict((diff, lo, hi)) == "holds"
    assert confidence.verdict(per_image.diff_ci("b", "a", 1, 20)) == "fails"
    assert per_image.diff_ci("a", "a", 1, 20)[1:] == (0.0, 0.0)
    assert confidence.verdict(per_image.diff_ci("a", "a", 1, 20)) == "tie"
    assert per_image.diff_ci("a", "b", 1, 200) is None  # level 101+ not swept
    assert confidence.PerImage.read(tmp_path / "missing.npz") is None


def test_same_seed_same_interval():
    pi = confidence.PerImage(LEVELS, {"a": _correct(0.7), "b": _correct(0.69, seed=3)})
    assert pi.diff_ci("a", "b", 1, 100) == pi.diff_ci("a", "b", 1, 100)


def test_claims_use_the_intervals(tmp_path):
    # The crafted sweep says Proposed (0.700) beats Ens(Cla) (0.550) on (1,100); the per-image data decides
    # whether that is more than noise.
    path = write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)])
    sweep = read_sweep(path)
    claim = "proposed_gt_ens_cla"
    clear = confidence.PerImage(LEVELS, {n: _correct(0.7 if n == "proposed" else 0.55, seed=i)
                                         for i, n in enumerate(NETWORKS)})
    same = confidence.PerImage(LEVELS, {n: _correct(0.6, seed=0) for n in NETWORKS})
    by_claim = {c.id: c for c in claim_verdicts(sweep, "jpeg", "cifar10", clear)}
    assert by_claim[claim].verdict == "holds" and "95% CI" in by_claim[claim].evidence
    by_claim = {c.id: c for c in claim_verdicts(sweep, "jpeg", "cifar10", same)}
    assert by_claim[claim].holds is True and by_claim[claim].verdict == "tie"
    # Without per-image data the verdict is the point estimate's.
    by_claim = {c.id: c for c in claim_verdicts(sweep, "jpeg", "cifar10")}
    assert by_claim[claim].verdict == "holds" and "CI" not in by_claim[claim].evidence


def test_ci_uses_the_same_grid_levels_as_the_interval_mean():
    """Blur's (1.1,2) is the ten levels 1.1..2.0, not the integers 1 and 2 (a bug the integer-only rows had)."""
    import numpy as np

    from keras_irdi.reporting.confidence import PerImage

    levels = np.round(np.arange(61) * 0.1, 1)
    # Network a is right on every image exactly at levels 1.1..2.0; b never is.
    a = np.zeros((61, 50), bool)
    a[11:21] = True
    p = PerImage(levels, {"a": a, "b": np.zeros((61, 50), bool)})
    diff, lower, upper = p.diff_ci("a", "b", 1.1, 2, step=0.1)
    assert diff == pytest.approx(1.0) and lower == pytest.approx(1.0)
    assert p.diff_ci("a", "b", 0, 1, step=0.1)[0] == pytest.approx(0.0)


def test_best_among_rivals_needs_every_rivals_interval(tmp_path):
    """Proposed tops the crafted (1,100) means, Seq(res) next. Per image it is barely but surely above Seq(res)
    (the same images right, 30 fewer), while Cla(jpg), lower on average but independent of it, is within
    noise: the claim is a tie, decided by Cla(jpg), not a win decided by the runner-up alone."""
    path = write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)])
    proposed = _correct(0.7)
    seq_res = proposed.copy()
    seq_res[:, np.flatnonzero(proposed[0])[:30]] = False
    correct = {n: _correct(0.3, seed=i) for i, n in enumerate(NETWORKS)}
    correct.update(proposed=proposed, seq_res=seq_res, cla_deg=_correct(0.68, seed=9))
    pi = confidence.PerImage(LEVELS, correct)
    assert confidence.verdict(pi.diff_ci("proposed", "seq_res", 1, 100)) == "holds"
    assert confidence.verdict(pi.diff_ci("proposed", "cla_deg", 1, 100)) == "tie"
    best = {c.id: c for c in claim_verdicts(read_sweep(path), "jpeg", "cifar10", pi)}["proposed_best"]
    assert best.holds is True and best.verdict == "tie" and "Cla(jpg)" in best.evidence
