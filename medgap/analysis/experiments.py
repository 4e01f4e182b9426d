"""Paired comparison of two runs on the items they share (`medgap compare`, `medgap experiment`).

Per dimension and overall, for each metric both runs report:
`a`, `b` (the metric over the shared units), `diff` = b - a with a 95% paired-bootstrap CI that
resamples items (all option orders of an item together: they are not independent), a paired test
and its p-value, and `a_only` / `b_only`: units right in one run only (binary metrics) or better in
one run (graded metrics).

The metrics compared are those an item kind declares with a paired test (`MetricSpec.units` and
`test` in `medgap/kinds/`: a mean of 0/1 row values is compared per row with exact McNemar, a graded
mean per item with Wilcoxon). Today:

| metric         | unit                     | per-unit value                      | test                     |
|----------------|--------------------------|-------------------------------------|--------------------------|
| accuracy       | (sample_id, permutation) | choice row correct (0/1)            | exact McNemar            |
| voted_accuracy | item asked in ≥2 orders  | majority over orders is the gold    | exact McNemar            |
| robustness     | item asked in ≥2 orders  | same content under every order      | exact McNemar            |
| fill_accuracy  | (sample_id, permutation) | fill-in row correct (0/1)           | exact McNemar            |
| macro_recall   | open item                | mean key-point `recall` of its rows | Wilcoxon signed-rank     |
| rouge_l        | open item                | mean `rouge_l` of its rows          | Wilcoxon signed-rank     |
| record_recall  | record item              | mean `recall` of its rows           | Wilcoxon signed-rank     |
| record_rouge_l | record item              | mean `rouge_l` of its rows          | Wilcoxon signed-rank     |

The names are those of `medgap results`; extraction micro-F1 (pooled over items) is not compared.

Rows with a call error or no grade are left out of both sides of their pair. The exact McNemar test
(statsmodels `mcnemar(exact=True)`) is a two-sided binomial test on the discordant pairs; the
Wilcoxon test is scipy's two-sided signed-rank test, zero differences dropped (`zero_method="wilcox"`).
With several option orders per item the McNemar p-value treats orders as independent pairs, which
overstates the evidence; the bootstrap CI does not.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from medgap.analysis.robustness import voted_units
from medgap.analysis.stats import BOOTSTRAP_RESAMPLES, percentile_interval, resample_indices
from medgap.kinds import all_specs
from medgap.kinds.base import Key, KindSpec, MetricSpec, Test
from medgap.records import CHOICE_KINDS, DIMENSIONS, Row, Sample


class NoSharedItems(ValueError):
    """The two runs have no item in common."""


def answer_correct(rows: list[Row], votes: bool) -> dict[Key, float]:
    """Per item, whether the run's one answer is right: the permutation vote when the run votes,
    else the answer under the original option order. This is what `--treatment vote` changes."""
    if votes:
        return voted_units(rows)
    return {(r.sample_id, -1): float(r.score.value == 1.0)
            for r in rows if r.kind in CHOICE_KINDS and r.permutation == 0 and r.graded}


def compared_metrics() -> list[tuple[KindSpec, MetricSpec]]:
    """Every kind's metrics that declare a paired test, with their kind."""
    return [(spec, metric) for spec in all_specs() for metric in spec.metrics if metric.units and metric.test]


# statistics --------------------------------------------------------------------------------------

def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    if a_only + b_only == 0:
        return 1.0
    from statsmodels.stats.contingency_tables import mcnemar  # heavy import, only when used

    return float(mcnemar([[0, a_only], [b_only, 0]], exact=True).pvalue)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1.0 when all are zero)."""
    if not np.any(differences != 0):
        return 1.0
    from scipy.stats import wilcoxon  # heavy import, only when used

    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_bootstrap_ci(a: np.ndarray, b: np.ndarray, clusters: list[str], level: float = 0.95,
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of mean(b) - mean(a), resampling clusters (items) with replacement."""
    names = sorted(set(clusters))
    index = {name: i for i, name in enumerate(names)}
    ids = np.array([index[c] for c in clusters])
    diff_sums = np.bincount(ids, weights=b - a, minlength=len(names))
    sizes = np.bincount(ids, minlength=len(names)).astype(float)
    if np.allclose(diff_sums / sizes, (diff_sums / sizes)[0]):
        value = float((b - a).mean())
        return value, value
    draw = resample_indices(len(names), seed, resamples)
    return percentile_interval(diff_sums[draw].sum(axis=1) / sizes[draw].sum(axis=1), level)


def compare_values(test: Test, values_a: dict[Key, float], values_b: dict[Key, float], seed: int = 0) -> dict | None:
    keys = sorted(values_a.keys() & values_b.keys())
    if not keys:
        return None
    a = np.array([values_a[k] for k in keys])
    b = np.array([values_b[k] for k in keys])
    ci_low, ci_high = paired_bootstrap_ci(a, b, [k[0] for k in keys], seed=seed)
    a_only, b_only = int(np.sum(a > b)), int(np.sum(b > a))
    p_value = mcnemar_exact(a_only, b_only) if test == "mcnemar_exact" else wilcoxon_p(b - a)
    return {
        "a": float(a.mean()), "b": float(b.mean()), "diff": float(b.mean() - a.mean()),
        "ci_low": ci_low, "ci_high": ci_high, "p_value": p_value, "test": test,
        "a_only": a_only, "b_only": b_only, "n": len(keys), "items": len({k[0] for k in keys}),
    }


# comparing runs ----------------------------------------------------------------------------------

def group_comparison(rows_a: list[Row], rows_b: list[Row], seed: int = 0,
                     votes: tuple[bool, bool] = (False, False)) -> dict:
    out = {}
    if any(votes):
        result = compare_values("mcnemar_exact", answer_correct(rows_a, votes[0]), answer_correct(rows_b, votes[1]),
                                seed=seed)
        if result is not None:
            out["answer_accuracy"] = result  # compared only when a run votes over option orders
    for spec, metric in compared_metrics():
        kind_a = [r for r in rows_a if r.kind in spec.kinds]
        kind_b = [r for r in rows_b if r.kind in spec.kinds]
        assert metric.units is not None and metric.test is not None  # compared_metrics keeps those only
        result = compare_values(metric.test, metric.units(kind_a), metric.units(kind_b), seed=seed)
        if result is not None:
            out[metric.name] = result
    return out


def shared_items(rows_a: list[Row], rows_b: list[Row], samples_a: list[Sample] | None = None,
                 samples_b: list[Sample] | None = None) -> tuple[set[str], list[str]]:
    """Item ids in both runs (same question text where the samples are known), and warnings."""
    common = {r.sample_id for r in rows_a} & {r.sample_id for r in rows_b}
    warnings = []
    if samples_a is not None and samples_b is not None:
        qa = {s.id: s.question for s in samples_a}
        qb = {s.id: s.question for s in samples_b}
        differing = sorted(i for i in common if i in qa and i in qb and qa[i] != qb[i])
        if differing:
            warnings.append(f"{len(differing)} item ids have different question texts in the two runs and are "
                            f"left out (e.g. {differing[0]})")
            common -= set(differing)
    return common, warnings


def compare_rows(rows_a: list[Row], rows_b: list[Row], *, samples_a: list[Sample] | None = None,
                 samples_b: list[Sample] | None = None, seed: int = 0,
                 votes: tuple[bool, bool] = (False, False)) -> dict:
    """`votes`: whether each run answers by permutation vote (adds `answer_accuracy`)."""
    common, warnings = shared_items(rows_a, rows_b, samples_a, samples_b)
    if not common:
        raise NoSharedItems("the two runs have no items in common: compare runs of the same suite")
    rows_a = [r for r in rows_a if r.sample_id in common]
    rows_b = [r for r in rows_b if r.sample_id in common]
    by_dim_a: dict[str, list[Row]] = defaultdict(list)
    by_dim_b: dict[str, list[Row]] = defaultdict(list)
    for row in rows_a:
        by_dim_a[row.dimension].append(row)
    for row in rows_b:
        by_dim_b[row.dimension].append(row)
    dimensions = [d for d in DIMENSIONS if by_dim_a.get(d) and by_dim_b.get(d)]
    return {
        "items": len(common),
        "overall": group_comparison(rows_a, rows_b, seed, votes),
        "dimensions": {d: group_comparison(by_dim_a[d], by_dim_b[d], seed, votes) for d in dimensions},
        "warnings": warnings,
    }


def compare_runs(store, run_a: str, run_b: str, seed: int = 0) -> dict:
    """The `medgap compare --json` object for two stored runs."""
    config_a, config_b = store.run_config(run_a), store.run_config(run_b)
    rows_a, rows_b = store.rows(run_a), store.rows(run_b)
    try:
        votes = (bool(config_a.extra.get("vote")), bool(config_b.extra.get("vote")))
        result = compare_rows(rows_a, rows_b, samples_a=store.samples(run_a), samples_b=store.samples(run_b),
                              seed=seed, votes=votes)
    except NoSharedItems:
        raise NoSharedItems(
            f"runs {run_a!r} ({config_a.suite}, {len({r.sample_id for r in rows_a})} items) and {run_b!r} "
            f"({config_b.suite}, {len({r.sample_id for r in rows_b})} items) have no items in common: "
            "compare two runs of the same suite"
        ) from None
    if config_a.suite != config_b.suite:
        result["warnings"].insert(0, f"the runs are of different suites ({config_a.suite} vs {config_b.suite}); "
                                     "only shared items are compared")
    header = {
        "run_a": run_a, "run_b": run_b,
        "a": {"model": config_a.model, "suite": config_a.suite, "interventions": config_a.interventions,
              "permutations": config_a.permutations, "seed": config_a.seed},
        "b": {"model": config_b.model, "suite": config_b.suite, "interventions": config_b.interventions,
              "permutations": config_b.permutations, "seed": config_b.seed},
    }
    return {**header, **result}
