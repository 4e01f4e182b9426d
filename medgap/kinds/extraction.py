"""Extraction items (MedBench 医学语言理解: CMeEE, CMeIE, CHIP-CDEE, CHIP-CDN, CHIP-CTC).

Micro-F1 over exact-match tuples pooled across items, as OpenCompass's MedBench scorer computes it,
with precision, recall and a bootstrap CI over items; macro-F1 over class labels for classification
items (CHIP-CTC); and how often the output could not be read at all (format errors, counted as
nothing found). Scoring: `scoring/extraction.py`.
"""

from __future__ import annotations

import json

from medgap.kinds.aggregates import (
    graded_value,
    macro_f1_metric,
    mean_metric,
    micro_f1_metrics,
)
from medgap.kinds.base import KindSpec, ReportSection, scorer_in
from medgap.records import Attempt, Row, Sample


def format_error(row: Row) -> float | None:
    return float(bool(row.score.details.get("format_error"))) if row.graded else None


def classified(row: Row) -> bool:
    return row.score.details.get("extraction_type") == "classification"


def label_pair(row: Row) -> tuple[str | None, str | None] | None:
    details = row.score.details
    return (details.get("gold_label"), details.get("predicted_label")) if classified(row) else None


def oracle_reply(sample: Sample, attempt: Attempt) -> str:
    structure = sample.gold.structure if sample.gold else None
    if structure is None:
        return ""
    return structure if isinstance(structure, str) else json.dumps(structure, ensure_ascii=False)


SPEC = KindSpec(
    name="extraction",
    kinds=("extraction",),
    prompts={"extraction": (
        "以下是一道医学信息抽取题，请严格按照题目要求的格式给出抽取结果，不要解释。\n\n{context}{question}"
    )},
    scorer=scorer_in("medgap.scoring.extraction", "score_extraction"),
    metrics=(
        *micro_f1_metrics("", "抽取", "Extraction", lambda row: True, primary=True, headline=True,
                          about="Micro-F1 over extracted items pooled across rows."),
        macro_f1_metric("macro_f1", "分类 macro-F1", "Classification macro-F1", label_pair,
                        about="Mean per-label F1 over classification items."),
        mean_metric("classification_accuracy", "分类准确率", "Classification accuracy",
                    lambda row: graded_value(row) if classified(row) else None, ci="none", compare=False,
                    about="Share of classification items given the right label."),
        mean_metric("format_error_rate", "格式错误率", "Format errors", format_error, ci="binomial", compare=False,
                    about="Answers in no readable layout, counted as nothing found."),
    ),
    section=ReportSection("信息抽取", "Information extraction", ("micro_f1", "macro_f1", "classification_accuracy")),
    oracle_reply=oracle_reply,
    order=30,
)
