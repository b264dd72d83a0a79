"""keras_irdi.models.restoration_gate: the share of the residual by JPEG quality, fitted so no kind of image
loses on average."""
import numpy as np
import pytest

from keras_irdi.metrics import cpsnr
from keras_irdi.models.restoration_gate import (MIN_IMAGES, RESAVE_ABOVE, alpha_for, fit_alpha, fit_table,
                                                fitted_qualities, gains_db, gate_quality, residual_products,
                                                share_table)

RNG = np.random.default_rng(0)
CLEAN = RNG.integers(40, 216, (50, 8, 8, 3)).astype(np.float64)
DEGRADED = CLEAN + RNG.normal(0, 6, CLEAN.shape)


def _products(restored):
    return residual_products(CLEAN, DEGRADED, restored)


def test_gain_from_the_products_is_the_psnr_gain():
    restored = DEGRADED + 0.6 * (CLEAN - DEGRADED) + RNG.normal(0, 1, CLEAN.shape)
    for alpha in (0.0, 0.3, 1.0):
        mixed = DEGRADED + alpha * (restored - DEGRADED)
        direct = [cpsnr(c, m) - cpsnr(c, d)
                  for c, m, d in zip(CLEAN, mixed, DEGRADED)]
        np.testing.assert_allclose(gains_db(_products(restored), alpha), direct, atol=1e-6)


def test_a_helpful_residual_is_applied_whole_and_a_harmful_one_not_at_all():
    assert fit_alpha([_products(CLEAN)]) == 1.0  # the residual is the error itself
    assert fit_alpha([_products(2 * DEGRADED - CLEAN)]) == 0.0  # it doubles the error: no share helps
    assert fit_alpha([_products(DEGRADED + 2 * (CLEAN - DEGRADED))]) == 0.5  # overshoots twice: half is exact


def test_no_domain_may_lose_on_average():
    helps = _products(CLEAN)  # prefers the whole residual
    overshoots = _products(DEGRADED + 5 * (CLEAN - DEGRADED))  # gains only up to a share of 0.4, best at 0.2
    alpha = fit_alpha([helps, overshoots])
    assert 0 < alpha <= 0.4 and gains_db(overshoots, alpha).mean() >= 0
    assert fit_alpha([helps, _products(2 * DEGRADED - CLEAN)]) == 0.0  # one domain always loses: leave it alone


def test_table_and_lookup():
    assert fitted_qualities(1) == list(range(1, 101))
    assert fitted_qualities(30) == [1, 31, 61, 91, 100]
    few = _products(CLEAN)[:MIN_IMAGES - 1]
    table = fit_table({10: [_products(CLEAN), few], 90: [_products(2 * DEGRADED - CLEAN)], 95: [few]})
    assert table == {10: 1.0, 90: 0.0}  # too few images decide nothing: QF 95 takes its neighbour's share
    assert gate_quality(None, 95) == 95 and gate_quality(95, 95) == 95 and gate_quality(40, None) == 40
    assert gate_quality(85, 95) is None  # saved again from a coarser JPEG: left as it is
    assert gate_quality(8, 10) == 10 and gate_quality(40, RESAVE_ABOVE) == RESAVE_ABOVE  # low files: their own
    assert gate_quality(RESAVE_ABOVE, RESAVE_ABOVE + 1) is None
    assert gate_quality(None, None) is None
    assert [alpha_for(table, q) for q in (1, 49, 51, 100)] == [1.0, 1.0, 0.0, 0.0]  # the nearest fitted quality
    assert alpha_for(table, None) == 0.0  # no JPEG lattice: the image as it is
    assert alpha_for({10: 0.7}, 12) == pytest.approx(0.7)
    assert fit_table({10: [few], 90: [few[:3]]}) == {10: 1.0, 90: 1.0}  # a tiny run: what it has decides
    assert alpha_for({}, 50) == 0.0


def test_share_table_is_the_lookup_at_every_quality():
    gate = {10: 1.0, 50: 0.5, 95: 0.25, 100: 0.0}
    table = share_table(gate)
    assert table.shape == (101,) and table[0] == 0.0  # index 0: quality unknown, the image as it is
    assert list(table[1:]) == [alpha_for(gate, q) for q in range(1, 101)]
    assert (table[[10, 30, 31, 50, 72, 73, 95, 98]] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.0]).all()
    assert (share_table(None) == 1.0).all()  # no gate: all of the residual, quality known or not
