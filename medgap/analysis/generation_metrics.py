"""Aggregates of record rows (医学语言生成: dialogue -> medical record): mean section coverage, mean
key-point macro-recall within sections (the rows' value) with a bootstrap CI over items, mean
ROUGE-L, and how many records had possible hallucinations or no readable sections."""

from __future__ import annotations

from medgap.analysis.stats import bootstrap_ci, item_means
from medgap.records import Row, Sample


def record_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    records = [r for r in rows if r.kind == "record"]
    if not records:
        return {}
    graded = [r for r in records if r.graded]
    out: dict = {"record_n": len(graded)}  # rows without gold: `ungraded` of row_counts, for every kind
    if not graded:
        return out
    out["section_coverage"] = _mean(r.score.details.get("section_coverage", 0.0) for r in graded)
    out["record_recall"] = _mean(r.score.value for r in graded)
    out["record_recall_ci_low"], out["record_recall_ci_high"] = bootstrap_ci(item_means(graded))
    out["record_rouge_l"] = _mean(r.score.details.get("rouge_l", 0.0) for r in graded)
    out["records_with_suspect_spans"] = sum(bool(r.score.details.get("hallucinated")) for r in graded)
    out["record_format_errors"] = sum(bool(r.score.details.get("format_error")) for r in graded)
    return out


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0

