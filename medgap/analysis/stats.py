"""Confidence intervals used by every aggregate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Exact (Clopper-Pearson) interval for a share of independent trials, from the beta quantiles
    (what `scipy.stats.binomtest(...).proportion_ci("exact")` returns, without importing scipy.stats)."""
    if n == 0:
        return None, None
    from scipy.special import betaincinv

    alpha = 1 - level
    low = 0.0 if successes == 0 else float(betaincinv(successes, n - successes + 1, alpha / 2))
    high = 1.0 if successes == n else float(betaincinv(successes + 1, n - successes, 1 - alpha / 2))
    return low, high


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval for a mean of per-item values (recall, F1, cluster means)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None, None
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(BOOTSTRAP_RESAMPLES, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
