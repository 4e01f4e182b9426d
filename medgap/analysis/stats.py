"""Confidence intervals used by every aggregate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from medgap.analysis.distributions import beta_quantile

if TYPE_CHECKING:  # numpy is imported where a bootstrap needs it: a run of choice items never does
    import numpy as np

    from medgap.records import Row

BOOTSTRAP_RESAMPLES = 2000


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Exact (Clopper-Pearson) interval for a share of independent trials, from the beta quantiles
    (what `scipy.stats.binomtest(...).proportion_ci("exact")` returns)."""
    if n == 0:
        return None, None
    alpha = 1 - level
    low = 0.0 if successes == 0 else beta_quantile(alpha / 2, successes, n - successes + 1)
    high = 1.0 if successes == n else beta_quantile(1 - alpha / 2, successes + 1, n - successes)
    return low, high


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval for a mean of per-item values (recall, F1, cluster means)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None, None
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    return percentile_interval(data[resample_indices(data.size, seed)].mean(axis=1), level)


def resample_indices(n: int, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Bootstrap draws of n units with replacement: one row of n indices per resample."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile_interval(estimates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of bootstrap estimates."""
    alpha = (1 - level) / 2
    import numpy as np

    return float(np.quantile(estimates, alpha)), float(np.quantile(estimates, 1 - alpha))


def scored_values(rows: Iterable[Row]) -> list[float]:
    """The rows' scores (score.value), rows without one (not graded) left out."""
    return [row.score.value for row in rows if row.score.value is not None]


def item_values(rows: Iterable[Row]) -> dict[str, list[float]]:
    """Each item's row scores (score.value) by sample id, rows without one left out. Rows of one item
    (option orders, repeated samples) are not independent: intervals resample items."""
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.score.value is not None:
            values[row.sample_id].append(row.score.value)
    return dict(values)


def item_means(rows: Iterable[Row]) -> list[float]:
    return [sum(v) / len(v) for v in item_values(rows).values()]


def share_ci(values_by_item: Mapping[str, Sequence[float]]) -> tuple[float | None, float | None]:
    """Interval of the share of right (1) rows: exact binomial with one row per item, else a
    bootstrap over item means."""
    if all(len(values) == 1 for values in values_by_item.values()):
        return proportion_ci(int(sum(v[0] for v in values_by_item.values())), len(values_by_item))
    return bootstrap_ci([sum(v) / len(v) for v in values_by_item.values()])
