"""Aggregates of extraction rows (医学语言理解): micro-F1 over exact-match tuples pooled across items,
as OpenCompass's MedBench scorer computes it, with precision, recall and a bootstrap CI over items;
macro-F1 over class labels for classification items (CHIP-CTC); and how often the output could not
be read at all (format errors, counted as nothing found)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from medgap.analysis.stats import percentile_interval, resample_indices, scored_values
from medgap.records import Row, Sample


def extraction_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    extraction = [r for r in rows if r.kind == "extraction"]
    if not extraction:
        return {}
    graded = [r for r in extraction if r.graded]
    out: dict = {"extraction_n": len(graded)}  # rows without gold: `ungraded` of row_counts, for every kind
    if not graded:
        return out
    out.update(micro_f1_of(graded))
    out["micro_f1_ci_low"], out["micro_f1_ci_high"] = micro_f1_ci(graded)
    format_errors = sum(bool(r.score.details.get("format_error")) for r in graded)
    out["format_errors"] = format_errors
    out["format_error_rate"] = format_errors / len(graded)
    labelled = [r for r in graded if r.score.details.get("extraction_type") == "classification"]
    if labelled:
        pairs = [(r.score.details.get("gold_label"), r.score.details.get("predicted_label")) for r in labelled]
        out["macro_f1"] = macro_f1(pairs)
        out["classification_accuracy"] = sum(scored_values(labelled)) / len(labelled)
    return out


def micro_f1_of(rows: list[Row], prefix: str = "") -> dict:
    """Micro-F1 pooled over rows from the tp/fp/fn each scorer records (MedBench's DDx scoring)."""
    tp = sum(r.score.details.get("tp", 0) for r in rows)
    fp = sum(r.score.details.get("fp", 0) for r in rows)
    fn = sum(r.score.details.get("fn", 0) for r in rows)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {f"{prefix}micro_f1": f1, f"{prefix}precision": precision, f"{prefix}recall": recall}


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


def micro_f1_ci(rows: list[Row], level: float = 0.95, seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap of micro-F1 resampling items (an item's rows stay together)."""
    per_item: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    for row in rows:
        d = row.score.details
        per_item[row.sample_id] += (d.get("tp", 0), d.get("fp", 0), d.get("fn", 0))
    counts = np.array(list(per_item.values()))
    if len(counts) == 0:
        return None, None
    sums = counts[resample_indices(len(counts), seed)].sum(axis=1)
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denominator = 2 * tp + fp + fn
    scores = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return percentile_interval(scores, level)
