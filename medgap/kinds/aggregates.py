"""Generic metric constructors: each turns per-row values into a `MetricSpec` that aggregates a
group's rows into an `Estimate` and, where the metric is compared by `medgap experiment`, gives the
per-unit values and the paired test.

- `mean_metric`: mean of per-row values, pooled over rows or over items (an item asked several times
  averaged first); CI exact binomial for 0/1 values with one row per item, else a percentile
  bootstrap over items (rows of one item are not independent).
- `count_metric`: how many rows have a property (judge errors, format errors), of the rows counted.
- `micro_f1_metrics`: micro-F1, precision and recall pooled from the tp/fp/fn a scorer records
  (MedBench's DDx and extraction scoring), micro-F1 with a bootstrap CI over items.
- `macro_f1_metric`: mean per-label F1 of (gold, predicted) label pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Literal

from medgap.analysis.stats import bootstrap_ci, percentile_interval, resample_indices, share_ci
from medgap.kinds.base import Estimate, Key, MetricSpec, RowValue
from medgap.records import Row


def graded_value(row: Row) -> float | None:
    """The row's score (`score.value`) when it was answered and graded."""
    return row.score.value if row.graded else None


def detail(key: str) -> RowValue:
    """A numeric `score.details[key]` of an answered row (booleans are not values)."""

    def value(row: Row) -> float | None:
        found = row.score.details.get(key)
        if row.errored or isinstance(found, bool) or not isinstance(found, (int, float)):
            return None
        return float(found)

    return value


def graded_detail(key: str, default: float | None = None) -> RowValue:
    """`score.details[key]` of a graded row (`default` when the scorer left it out)."""

    def value(row: Row) -> float | None:
        if not row.graded:
            return None
        found = row.score.details.get(key, default)
        return None if found is None else float(found)

    return value


def flagged(key: str) -> Callable[[Row], bool]:
    """Whether the scorer set `score.details[key]` (format_error, judge_error, hallucinated, ...)."""

    def flag(row: Row) -> bool:
        return bool(row.score.details.get(key))

    return flag


def values_by_item(rows: list[Row], value: RowValue) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        found = value(row)
        if found is not None:
            out[row.sample_id].append(found)
    return dict(out)


def item_units(value: RowValue) -> Callable[[list[Row]], dict[Key, float]]:
    """Per item, the mean of its rows' values (unit key: (item, -1))."""

    def units(rows: list[Row]) -> dict[Key, float]:
        return {(item, -1): sum(v) / len(v) for item, v in values_by_item(rows, value).items()}

    return units


def row_units(value: RowValue) -> Callable[[list[Row]], dict[Key, float]]:
    def units(rows: list[Row]) -> dict[Key, float]:
        out = {}
        for row in rows:
            found = value(row)
            if found is not None:
                out[(row.sample_id, row.permutation)] = found
        return out

    return units


def mean_metric(
    name: str, zh: str, en: str, value: RowValue = graded_value, *,
    over: Literal["rows", "items"] = "rows", ci: Literal["binomial", "bootstrap", "none"] = "bootstrap",
    compare: bool = True, about: str = "", headline: bool = False, primary: bool = False,
) -> MetricSpec:
    """The mean of per-row values. Compared in experiments per row with exact McNemar when the values
    are 0/1 (`ci="binomial"`), else per item with the Wilcoxon signed-rank test."""

    def aggregate(rows: list[Row]) -> Estimate | None:
        by_item = values_by_item(rows, value)
        if not by_item:
            return None
        item_means = [sum(v) / len(v) for v in by_item.values()]
        row_values = [v for values in by_item.values() for v in values]
        pooled = row_values if over == "rows" else item_means
        low, high = (share_ci(by_item) if ci == "binomial" else bootstrap_ci(item_means) if ci == "bootstrap"
                     else (None, None))
        hits = int(sum(row_values)) if ci == "binomial" else None
        return Estimate(value=sum(pooled) / len(pooled), n=len(pooled), ci_low=low, ci_high=high, count=hits)

    binary = ci == "binomial"
    return MetricSpec(
        name, zh, en, aggregate, about=about, headline=headline, primary=primary,
        units=(row_units(value) if binary else item_units(value)) if compare else None,
        test=("mcnemar_exact" if binary else "wilcoxon") if compare else None,
    )


def count_metric(name: str, zh: str, en: str, flagged: Callable[[Row], bool | None], *,
                 counted: Callable[[Row], bool] = lambda row: not row.errored, show_zero: bool = False,
                 about: str = "") -> MetricSpec:
    """How many of the `counted` rows are `flagged`; left out when none is, unless `show_zero`."""

    def aggregate(rows: list[Row]) -> Estimate | None:
        considered = [r for r in rows if counted(r)]
        hits = sum(bool(flagged(r)) for r in considered)
        if not considered or (not hits and not show_zero):
            return None
        return Estimate(value=hits, n=len(considered), count=hits)

    return MetricSpec(name, zh, en, aggregate, about=about, unit="count")


def tp_fp_fn(row: Row) -> tuple[int, int, int]:
    d = row.score.details
    return d.get("tp", 0), d.get("fp", 0), d.get("fn", 0)


def micro_f1(counts: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    """(f1, precision, recall) from (tp, fp, fn) counts pooled over items."""
    tp, fp, fn = (float(sum(column)) for column in zip(*counts, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def micro_f1_ci(per_item: list[tuple[int, int, int]]) -> tuple[float | None, float | None]:
    """Percentile bootstrap of micro-F1 resampling items (an item's rows stay together)."""
    import numpy as np

    if not per_item:
        return None, None
    counts = np.array(per_item, dtype=float)
    sums = counts[resample_indices(len(counts))].sum(axis=1)
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denominator = 2 * tp + fp + fn
    scores = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return percentile_interval(scores, 0.95)


def micro_f1_metrics(prefix: str, zh: str, en: str, counted: Callable[[Row], bool], *, about: str = "",
                     primary: bool = False, headline: bool = False) -> tuple[MetricSpec, ...]:
    """`<prefix>micro_f1` (with a CI), `<prefix>precision` and `<prefix>recall`, pooled over the
    graded rows that are `counted`."""

    def per_item(rows: list[Row]) -> list[tuple[int, int, int]]:
        items: dict[str, tuple[int, int, int]] = {}
        for row in rows:
            if counted(row) and row.graded:
                tp, fp, fn = items.get(row.sample_id, (0, 0, 0))
                row_tp, row_fp, row_fn = tp_fp_fn(row)
                items[row.sample_id] = (tp + row_tp, fp + row_fp, fn + row_fn)
        return list(items.values())

    def part(index: int, with_ci: bool) -> Callable[[list[Row]], Estimate | None]:
        def aggregate(rows: list[Row]) -> Estimate | None:
            items = per_item(rows)
            if not items:
                return None
            low, high = micro_f1_ci(items) if with_ci else (None, None)
            return Estimate(value=micro_f1(items)[index], n=len(items), ci_low=low, ci_high=high)

        return aggregate

    return (
        MetricSpec(f"{prefix}micro_f1", f"{zh} micro-F1", f"{en} micro-F1", part(0, True), about=about,
                   primary=primary, headline=headline),
        MetricSpec(f"{prefix}precision", f"{zh}精确率", f"{en} precision", part(1, False)),
        MetricSpec(f"{prefix}recall", f"{zh}召回率", f"{en} recall", part(2, False)),
    )


def f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(pairs: list[tuple[str | None, str | None]]) -> float:
    """Mean per-label F1 over the labels that occur as gold or as prediction (scikit-learn's
    `macro avg`). A prediction of None (unreadable output) is a miss of the gold label and no label
    of its own."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    labels: set[str] = set()
    for gold, predicted in pairs:
        labels.update(label for label in (gold, predicted) if label is not None)
        if gold is not None and gold == predicted:
            tp[gold] += 1
            continue
        if gold is not None:
            fn[gold] += 1
        if predicted is not None:
            fp[predicted] += 1
    if not labels:
        return 0.0
    return sum(f1(tp[label], fp[label], fn[label]) for label in labels) / len(labels)


def macro_f1_metric(name: str, zh: str, en: str, pair: Callable[[Row], tuple[str | None, str | None] | None],
                    about: str = "") -> MetricSpec:
    """Macro-F1 over the (gold, predicted) label pairs of the graded rows that have one."""

    def aggregate(rows: list[Row]) -> Estimate | None:
        pairs = [found for r in rows if r.graded and (found := pair(r)) is not None]
        return Estimate(value=macro_f1(pairs), n=len(pairs)) if pairs else None

    return MetricSpec(name, zh, en, aggregate, about=about)
