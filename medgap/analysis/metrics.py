"""Summaries of stored rows: per task, per dimension and overall.

Each group gets its row counts and, for every item kind it holds, the kind's declared metrics
(`medgap/kinds/`), each an `Estimate` with its 95% CI, plus what the kind reports beside them
(`details`: robustness exclusions and positional bias, key-point method agreement, ...). A group
only shows the metrics of the kinds it holds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field, SerializeAsAny

from medgap.kinds import all_specs
from medgap.kinds.base import Estimate
from medgap.records import DIMENSIONS, Row, Sample


class GroupSummary(BaseModel):
    rows: int
    items: int
    errors: int  # failed model calls, of every kind (retried on resume, never scored)
    ungraded: int  # answered rows of items without gold (e.g. MedBench public test files)
    metrics: dict[str, Estimate] = Field(default_factory=dict)  # metric name -> estimate, in display order
    details: dict[str, SerializeAsAny[BaseModel]] = Field(default_factory=dict)  # kind name -> its details

    def value(self, name: str) -> float | None:
        """A metric's value; None when the group has no such metric."""
        found = self.metrics.get(name)
        return found.value if found else None


class TaskSummary(GroupSummary):
    dimension: str


class Usage(BaseModel):
    """What the run cost: tokens as the backend reported them (all calls of a row's solver chain) and
    the latency of the answered rows."""

    rows_with_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_median_s: float | None = None
    latency_p95_s: float | None = None


class RunSummary(BaseModel):
    """The `medgap results --json` object."""

    run_id: str
    model: str
    suite: str | None = None
    permutations: int | None = None
    seed: int | None = None
    settings: dict[str, Any] | None = None  # the run's AnswerSettings
    overall: GroupSummary
    usage: Usage
    dimensions: dict[str, GroupSummary]
    tasks: dict[str, TaskSummary]

    def groups(self, by: str = "dimensions") -> dict[str, GroupSummary]:
        """The groups of one breakdown ("dimensions" or "tasks"), then "overall"."""
        groups: dict[str, GroupSummary] = dict(self.dimensions if by == "dimensions" else self.tasks)
        return {**groups, "overall": self.overall}


def group_summary(rows: list[Row], samples: dict[str, Sample]) -> dict[str, Any]:
    """The fields of a GroupSummary over these rows."""
    ungraded = sum(1 for r in rows if not r.errored and r.sample_id in samples and samples[r.sample_id].gold is None)
    metrics: dict[str, Estimate] = {}
    details: dict[str, BaseModel] = {}
    for spec in all_specs():
        kind_rows = [r for r in rows if r.kind in spec.kinds]
        if not kind_rows:
            continue
        for metric in spec.metrics:
            estimate = metric.aggregate(kind_rows)
            if estimate is not None:
                metrics[metric.name] = estimate
        found = spec.details(kind_rows) if spec.details else None
        if found is not None:
            details[spec.name] = found
    return {"rows": len(rows), "items": len({r.sample_id for r in rows}), "errors": sum(r.errored for r in rows),
            "ungraded": ungraded, "metrics": metrics, "details": details}


def usage_of(rows: list[Row]) -> Usage:
    answered = [r.response for r in rows if not r.errored]
    reported = [r for r in answered if r.prompt_tokens is not None or r.completion_tokens is not None]
    latencies = sorted(r.latency_s for r in answered)
    return Usage(
        rows_with_tokens=len(reported),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in reported),
        completion_tokens=sum(r.completion_tokens or 0 for r in reported),
        latency_median_s=percentile(latencies, 0.5),
        latency_p95_s=percentile(latencies, 0.95),
    )


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(run_id: str, model: str, rows: list[Row], samples: list[Sample], **header: Any) -> RunSummary:
    by_id = {s.id: s for s in samples}
    by_dimension: dict[str, list[Row]] = defaultdict(list)
    by_task: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_dimension[row.dimension].append(row)
        by_task[row.task].append(row)
    figures = SharedFigures(by_id)
    return RunSummary(
        run_id=run_id, model=model, **header,
        overall=GroupSummary(**figures(rows)),
        usage=usage_of(rows),
        dimensions={d: GroupSummary(**figures(by_dimension[d])) for d in DIMENSIONS if d in by_dimension},
        tasks={t: TaskSummary(dimension=by_task[t][0].dimension, **figures(by_task[t])) for t in sorted(by_task)},
    )


class SharedFigures:
    """`group_summary` of each group, computed once for groups that hold the very same rows (a run of
    one task in one dimension: the task, its dimension and the whole run)."""

    def __init__(self, samples: dict[str, Sample]) -> None:
        self.samples = samples
        self.known: list[tuple[list[Row], dict[str, Any]]] = []

    def __call__(self, rows: list[Row]) -> dict[str, Any]:
        for seen, fields in self.known:
            if len(seen) == len(rows) and all(a is b for a, b in zip(seen, rows, strict=True)):
                return fields
        fields = group_summary(rows, self.samples)
        self.known.append((rows, fields))
        return fields


def summarize_run(store, run_id: str, *, written: list[Row] | None = None,
                  samples: list[Sample] | None = None) -> RunSummary:
    """Summary of a stored run. `written` (rows this process just stored, with the run's `samples`)
    saves reading the run back when they are all the rows it holds."""
    config = store.run_config(run_id)
    header = {"suite": config.suite, "permutations": config.permutations, "seed": config.seed,
              "settings": config.answer_settings.model_dump() if config.answer_settings else None}
    if written is None or samples is None or store.count_rows(run_id) != len(written):
        return summarize(run_id, config.model, store.rows(run_id), store.samples(run_id), **header)
    position = {sample.id: i for i, sample in enumerate(samples)}
    rows = sorted(written, key=lambda row: (position[row.sample_id], row.permutation))  # the store's order
    return summarize(run_id, config.model, rows, samples, **header)
