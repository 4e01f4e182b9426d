"""Automatic pre-labels for wrong or partially correct rows, following the annotators' codebook
(`medgap/web/codebook/ERROR_CODEBOOK.md`): the rules (`prelabel_rules`) label every row where the
evidence is mechanical; a judge model (`prelabel_judge`), when one is given, re-reads the rule labels
not backed by strong evidence. Every label has a confidence and a one-line rationale that cites the
response."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from medgap.analysis.prelabel_judge import JudgeCase, judge_labels, needs_judge
from medgap.analysis.prelabel_rules import rule_label
from medgap.analysis.taxonomy import ErrorLabel
from medgap.models.base import Model
from medgap.records import Row, Sample


@dataclass
class Prelabels:
    labels: list[ErrorLabel]  # one per row, in order: the judge's where it answered usably, else the rules'
    judged: int = 0
    judge_failed: int = 0  # rows the judge was asked about whose rule label stays (failed call, unusable reply)


def prelabel(
    rows: Sequence[tuple[Row, Sample | None]],
    max_tokens: int | None = None,
    *,
    judge: Model | None = None,
    concurrency: int = 8,
    on_judged: Callable[[int, ErrorLabel | None], None] | None = None,
) -> Prelabels:
    """The pre-label of each (row, its sample): the rules', and with a `judge` the judge's for rule
    labels without strong mechanical evidence. `on_judged` hears of each judge answer as it comes."""
    labels = [rule_label(row, sample, max_tokens) for row, sample in rows]
    result = Prelabels(labels)
    if judge is None:
        return result
    asked = [index for index, label in enumerate(labels) if needs_judge(label)]
    if not asked:
        return result
    cases = [JudgeCase(rows[i][0], rows[i][1], labels[i]) for i in asked]
    for index, judged in zip(asked, asyncio.run(judge_labels(judge, cases, concurrency, on_judged)), strict=True):
        if judged is None:
            result.judge_failed += 1
        else:
            labels[index] = judged
            result.judged += 1
    return result
