"""The plain-Python beta quantile and chi-square tail (`analysis/distributions.py`) against scipy's."""

from __future__ import annotations

import pytest
from scipy.special import betaincinv, chdtrc
from scipy.stats import binomtest

from medgap.analysis.distributions import beta_quantile, chi2_sf
from medgap.analysis.stats import proportion_ci


@pytest.mark.parametrize("n", [1, 2, 7, 40, 999, 120_000])
def test_clopper_pearson_bounds_match_scipy(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        low, high = proportion_ci(k, n)
        reference = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert low == pytest.approx(reference.low, rel=1e-8, abs=1e-14)
        assert high == pytest.approx(reference.high, rel=1e-8, abs=1e-14)


@pytest.mark.parametrize("a, b, p", [(1, 1, 0.3), (0.5, 0.5, 0.01), (3, 200, 0.975), (5000, 12, 0.025), (2, 9, 0.5)])
def test_beta_quantile_matches_scipy(a, b, p):
    assert beta_quantile(p, a, b) == pytest.approx(float(betaincinv(a, b, p)), rel=1e-9)


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 10, 40])
def test_chi_square_tail_matches_scipy(dof):
    for x in (0.0, 1e-4, 0.5, 1.0, 3.0, 9.0, 30.0, 150.0):
        assert chi2_sf(x, dof) == pytest.approx(float(chdtrc(dof, x)), rel=1e-10, abs=1e-300)
