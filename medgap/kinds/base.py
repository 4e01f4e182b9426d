"""What an item kind declares: how it is asked, scored, summed up and shown.

A `KindSpec` holds, for one kind of item (choice, open-ended, fill-in, ...), its prompt template, its
scorer, the metrics computed over its rows and the report section that shows them. Everything else
(`medgap results`, the report, `medgap experiment`, the mock oracle) reads these declarations, so a
new kind is one module in `medgap/kinds/` and its tests.

Metrics are aggregated generically: a `MetricSpec` turns a group's rows of its kind into an
`Estimate` (value, units counted, 95% CI), built with the constructors of `kinds/aggregates.py`
from per-row values.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from medgap.records import Attempt, Gold, Response, Row, Sample, Score

Key = tuple[str, int]  # an experiment's paired unit: (sample_id, permutation); item-level units use -1
Test = Literal["mcnemar_exact", "wilcoxon"]
RowValue = Callable[[Row], float | None]  # a row's value for one metric; None: the row does not count
Scorer = Callable[[Sample, Attempt, Response], Score]
MatcherScorer = Callable[[Sample, Attempt, Response, Any], Awaitable[Score]]


class Estimate(BaseModel):
    """A metric over a group of rows."""

    value: float | None
    n: int  # units counted: rows or items, as the metric defines
    ci_low: float | None = None  # 95% interval; None where the metric has none
    ci_high: float | None = None
    count: int | None = None  # hits behind a share (correct rows, unanswered rows, ...)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a kind: its name in `medgap results`, how to compute it and how to show it."""

    name: str
    zh: str
    en: str
    aggregate: Callable[[list[Row]], Estimate | None]  # the kind's rows of a group -> estimate; None: n/a
    about: str = ""  # what it measures, one sentence: the report prints it under the kind's chart
    # how it reads: a share or mean in [0, 1] (shown as such, with its interval), a count of the rows it
    # counts ("3 of 24"), or a plain number (a median margin in nats)
    unit: Literal["share", "count", "number"] = "share"
    of: str | None = None  # a count shown as "value of <this metric's n>"
    # compared by `medgap experiment`: per-unit values of one run's rows, and the paired test
    units: Callable[[list[Row]], dict[Key, float]] | None = None
    test: Test | None = None
    headline: bool = False  # a card at the top of the report
    primary: bool = False  # the metric a task is ranked by (the kind's first primary one)


@dataclass(frozen=True)
class ReportSection:
    """The report's per-task chart of a kind: which metrics it draws (each explained by its `about`)."""

    zh: str
    en: str
    chart: tuple[str, ...]  # metric names, drawn side by side per task


@dataclass(frozen=True)
class KindSpec:
    """Everything medgap knows about one kind of item."""

    name: str  # the family's name ("choice" covers "single" and "multi")
    kinds: tuple[str, ...]  # `Sample.kind` values it handles
    prompts: dict[str, str]  # sample kind -> MedBench-style prompt template
    scorer: Scorer
    metrics: tuple[MetricSpec, ...]
    section: ReportSection | None = None
    # the scorer used when a key-point matcher is chosen (`--match embedding|judge`): a model call, hence async
    matcher_scorer: MatcherScorer | None = None
    oracle_reply: Callable[[Sample, Attempt], str] | None = None  # the gold written as an answer (mock/oracle)
    details: Callable[[list[Row]], BaseModel | None] | None = None  # what the metrics alone don't say
    check_gold: Callable[[Gold], None] | None = None  # raises ValueError on a gold the scorer cannot read
    # sample kind -> what its answer is, for kinds whose gold reads as a plain reply (letters, a text):
    # few-shot examples and the `json` solver apply to those; kinds with an answer format of their own
    # (extraction tuples, record sections) declare none and are left alone
    answer_hints: dict[str, str] = field(default_factory=dict)
    order: int = 100  # where it comes in tables and the report


def scorer_in(module: str, name: str) -> Scorer:
    """The scorer `module.name`, imported when it first scores: a run that never meets the kind does
    not load its scoring module (regexes, word lists, key-point matchers)."""

    def score(sample: Sample, attempt: Attempt, response: Response) -> Score:
        scorer: Scorer = getattr(importlib.import_module(module), name)
        return scorer(sample, attempt, response)

    return score


def matcher_scorer_in(module: str, name: str) -> MatcherScorer:
    """`scorer_in` for a kind's scorer with a key-point matcher (`--match embedding|judge`)."""

    async def score(sample: Sample, attempt: Attempt, response: Response, matcher: Any) -> Score:
        scorer: MatcherScorer = getattr(importlib.import_module(module), name)
        return await scorer(sample, attempt, response, matcher)

    return score


def reference_reply(sample: Sample, attempt: Attempt) -> str:
    """The reference answer written as a reply: the gold text, else its key points one per line."""
    return sample.gold.reference if sample.gold else ""
