"""What a report shows, gathered from the store: the summary, the rows, error labels, the diagnosis
and, for two runs, their paired comparison. A section with nothing to show is left out and the
report says why (`RunData.notes`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from medgap.analysis import experiments
from medgap.analysis.diagnosis import diagnose
from medgap.analysis.errors import error_distribution, load_error_labels
from medgap.analysis.metrics import RunSummary, summarize_run
from medgap.kinds import all_specs
from medgap.records import CHOICE_KINDS, Row, RunConfig, Sample
from medgap.solvers.prompts import format_options
from medgap.store import Store
from medgap.store.export import row_record

DEFAULT_MAX_ROWS = 20_000


@dataclass
class RunData:
    """One run as the report needs it."""

    config: RunConfig
    summary: RunSummary
    rows: list[dict]  # table records (see table_record), at most max_rows of them
    rows_total: int
    error_counts: dict[str, Counter] = field(default_factory=dict)  # dimension -> category -> rows
    error_sources: dict[str, int] = field(default_factory=dict)  # labeller (rule, judge, ...) -> labels
    diagnosis: list[dict] = field(default_factory=list)  # findings of `medgap diagnose`, ranked
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it is not shown

    @property
    def run_id(self) -> str:
        return self.config.run_id

    @property
    def name(self) -> str:
        """How the run is called in legends: the model, plus the run id when that is not obvious."""
        return (
            self.config.model
            if self.config.run_id.startswith(self.config.model)
            else (f"{self.config.model} ({self.config.run_id})")
        )


@dataclass
class Comparison:
    """Paired differences between two runs (b − a), one entry per (group, metric)."""

    a: str
    b: str
    diffs: list[dict]  # label ([group, metric]) plus a, b, diff, ci_low, ci_high, p_value, test, a_only, b_only
    is_experiment: bool = False
    items: int | None = None  # items both runs answered
    warnings: list[str] = field(default_factory=list)  # what the comparison left out


def row_status(row: Row) -> str:
    """correct / partial / wrong / unanswered / error / ungraded: the table's correctness filter."""
    if row.errored:
        return "error"
    if row.score.value is None:
        return "ungraded"
    if row.unanswered:
        return "unanswered"
    if row.score.value >= 1:
        return "correct"
    return "wrong" if row.score.value <= 0 else "partial"


def gold_text(gold: Any) -> str:
    if gold is None:
        return ""
    if isinstance(gold, str):
        return gold
    if gold.get("text"):
        return gold["text"]
    if gold.get("key_points"):
        return "\n".join(f"• {point}" for point in gold["key_points"])
    return json.dumps(gold, ensure_ascii=False)


def as_texts(value: Any) -> list[str] | str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value)


def covered_points(details: dict) -> list[str] | None:
    """The texts of the key points the answer covered (scorers store a bool per point)."""
    points, covered = details.get("points"), details.get("covered")
    if not points or not isinstance(covered, list) or len(covered) != len(points):
        return None
    return [str(point) for point, hit in zip(points, covered, strict=True) if hit]


def table_record(sample: Sample, row: Row, category: str | None) -> dict:
    """One row of the browsable table; all text stays raw here and is escaped where it is shown."""
    record = row_record(sample, row)
    details = record["details"] or {}
    question = f"{sample.context}\n\n{sample.question}" if sample.context else sample.question
    return {
        "run": row.run_id,
        "id": record["item_id"],
        "perm": record["permutation"],
        "dimension": record["dimension"],
        "task": record["task"],
        "kind": record["kind"],
        "question": question,
        "options": format_options(record["options"]),
        "gold": gold_text(record["gold"]),
        "response": record["response"],
        "extracted": record["extracted"],
        "score": record["score"],
        "status": row_status(row),
        "category": category,
        "error": record["error"],
        "covered": covered_points(details),
        "missed": as_texts(details.get("missed")),
    }


def counts_by_dimension(distribution: dict) -> dict[str, Counter]:
    counts = {
        d: Counter({c: n for c, n in group.get("counts", {}).items() if n})
        for d, group in distribution.get("dimensions", {}).items()
    }
    return {d: c for d, c in counts.items() if c}


def collect_run(store: Store, run_id: str, max_rows: int = DEFAULT_MAX_ROWS) -> RunData:
    """Summary, table rows, error labels and diagnosis of one stored run."""
    config = store.run_config(run_id)
    summary = summarize_run(store, run_id)
    samples = {s.id: s for s in store.samples(run_id)}
    labels = load_error_labels(store, run_id)
    distribution = error_distribution(store, run_id, labels)
    rows: list[dict] = []
    kinds: set[str] = set()
    total = 0
    for row in store.iter_rows(run_id):
        total += 1
        kinds.add(row.kind)
        if len(rows) < max_rows:
            label = labels.get((row.sample_id, row.permutation))
            rows.append(table_record(samples[row.sample_id], row, label.category if label else None))
    data = RunData(
        config=config,
        summary=summary,
        rows=rows,
        rows_total=total,
        error_counts=counts_by_dimension(distribution),
        error_sources=distribution["sources"],
        diagnosis=diagnose(summary, distribution)["findings"],
    )
    data.notes.update(missing_notes(data, kinds))
    return data


def missing_notes(data: RunData, kinds: set[str]) -> dict[str, str]:
    """Why a section of this run has nothing to show."""
    notes = {}
    charted = {name for spec in all_specs() if spec.section for name in spec.section.chart}
    if kinds - set(CHOICE_KINDS) and not any(data.summary.overall.value(name) is not None for name in charted):
        notes["open"] = "the run has open-ended items but no scores for them (recall, ROUGE-L, F1)"
    if data.summary.overall.value("robustness") is None:
        notes["robustness"] = "needs two or more option orders per item (run with --permutations 3 or more)"
    if not data.error_counts:
        notes["errors"] = "no wrong or partially correct rows to label"
    if not data.diagnosis:
        notes["diagnosis"] = "no failure signature of the diagnosis rules was found in this run"
    return notes


def paired_diffs(result: dict) -> list[dict]:
    """The metric entries of a `compare_runs` result (overall, then per dimension), each with
    its label [group, metric]."""
    groups = [("overall", result.get("overall") or {}), *(result.get("dimensions") or {}).items()]
    return [
        {**values, "label": [group, metric]}
        for group, metrics in groups
        for metric, values in metrics.items()
    ]


def is_experiment(a: RunConfig, b: RunConfig) -> bool:
    return bool(a.extra.get("experiment")) and bool(b.extra.get("experiment"))


def compare_runs(store: Store, a: RunConfig, b: RunConfig) -> Comparison:
    """Paired differences b − a on the items both runs answered (`medgap compare`); raises
    experiments.NoSharedItems (a ValueError) when they share none."""
    result = experiments.compare_runs(store, a.run_id, b.run_id)
    return Comparison(
        a=a.run_id,
        b=b.run_id,
        diffs=paired_diffs(result),
        is_experiment=is_experiment(a, b),
        items=result.get("items"),
        warnings=list(result.get("warnings") or []),
    )
