"""What a report shows, gathered from the store. Analyses that live in optional modules (robustness,
error labels, diagnosis, paired comparison) are looked up when the report is built; when one is
missing its section is left out and the report says why."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from medgap.analysis.metrics import summarize_run
from medgap.records import CHOICE_KINDS, Row, RunConfig, Sample
from medgap.store import Store
from medgap.store.export import row_record

ROBUSTNESS_MODULE = "medgap.analysis.robustness"
ERROR_LABELS_MODULE = "medgap.analysis.errors"
DIAGNOSIS_MODULE = "medgap.analysis.diagnosis"
COMPARE_MODULES = ("medgap.experiments.compare", "medgap.analysis.compare")
DEFAULT_MAX_ROWS = 20_000
# scores of non-choice items (open-ended, fill-in, extraction, records)
OPEN_METRICS = (
    "macro_recall",
    "rouge_l",
    "fill_accuracy",
    "micro_f1",
    "macro_f1",
    "classification_accuracy",
    "record_recall",
    "section_coverage",
    "record_rouge_l",
)


def optional_module(name: str) -> ModuleType | None:
    """The module, or None when it (or a package above it) is not part of this installation.
    A module that exists but fails to import for another reason still raises: that is a bug."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


@dataclass
class RunData:
    """One run as the report needs it."""

    config: RunConfig
    summary: dict
    rows: list[dict]  # table records (see table_record), at most max_rows of them
    rows_total: int
    error_counts: dict[str, Counter] | None = None  # dimension -> category -> rows; None: no labels
    error_sources: dict[str, int] = field(default_factory=dict)  # labeller (rule, judge, ...) -> labels
    diagnosis: list[Any] | None = None
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
    """Paired differences between two runs (b − a), flattened to one entry per (group, metric)."""

    a: str
    b: str
    diffs: list[dict]  # label (list[str]) plus a, b, diff, ci_low, ci_high, p_value, test, a_only, b_only
    is_experiment: bool = False


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
    if not points or not isinstance(covered, list):
        return None
    return [str(point) for point, hit in zip(points, covered) if hit]


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
        "options": "\n".join(f"{letter}. {text}" for letter, text in record["options"].items()),
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


def error_labels(store: Store, run_id: str) -> tuple[dict, dict] | None:
    """({(sample_id, permutation): label}, the error distribution) from the error-taxonomy module,
    or None when it is not installed."""
    module = optional_module(ERROR_LABELS_MODULE)
    if module is None:
        return None
    labels = module.load_error_labels(store, run_id)
    return labels, module.error_distribution(store, run_id, labels)


def counts_by_dimension(distribution: dict) -> dict[str, Counter]:
    counts = {
        d: Counter({c: n for c, n in group.get("counts", {}).items() if n})
        for d, group in distribution.get("dimensions", {}).items()
    }
    return {d: c for d, c in counts.items() if c}


def category_of(label: Any) -> str | None:
    if label is None:
        return None
    category = label.get("category") if isinstance(label, dict) else getattr(label, "category", None)
    return None if category is None else str(category)


def load_diagnosis(store: Store, run_id: str) -> list[Any] | None:
    """Findings with recommended interventions from the diagnosis module; None when it is absent."""
    diagnose = getattr(optional_module(DIAGNOSIS_MODULE), "diagnose_run", None)
    if diagnose is None:
        return None
    return list(diagnose(store, run_id) or [])


def collect_run(store: Store, run_id: str, max_rows: int = DEFAULT_MAX_ROWS) -> RunData:
    """Summary, table rows, error labels and diagnosis of one stored run."""
    robustness = optional_module(ROBUSTNESS_MODULE)  # imported first: it may register its metrics
    config = store.run_config(run_id)
    summary = summarize_run(store, run_id)
    samples = {s.id: s for s in store.samples(run_id)}
    labelled = error_labels(store, run_id)
    labels = labelled[0] if labelled else {}
    rows, total, kinds = [], 0, set()
    for row in store.iter_rows(run_id):
        total += 1
        kinds.add(row.kind)
        if len(rows) < max_rows:
            category = category_of(labels.get((row.sample_id, row.permutation)))
            rows.append(table_record(samples[row.sample_id], row, category))
    data = RunData(
        config=config,
        summary=summary,
        rows=rows,
        rows_total=total,
        error_counts=counts_by_dimension(labelled[1]) if labelled else None,
        error_sources=labelled[1].get("sources", {}) if labelled else {},
        diagnosis=load_diagnosis(store, run_id),
    )
    data.notes.update(missing_notes(data, robustness is not None, labelled is not None, kinds))
    return data


def missing_notes(data: RunData, has_robustness: bool, has_taxonomy: bool, kinds: set[str]) -> dict[str, str]:
    notes = {}
    if kinds - set(CHOICE_KINDS) and not any(
        data.summary["overall"].get(k) is not None for k in OPEN_METRICS
    ):
        notes["open"] = "the run has open-ended items but no scores for them (recall, ROUGE-L, F1)"
    if not has_robustness:
        notes["robustness"] = "robustness metrics are not available in this medgap installation"
    elif data.summary["overall"].get("robustness") is None:
        notes["robustness"] = "needs two or more option orders per item (run with --permutations 3 or more)"
    if not has_taxonomy:
        notes["errors"] = "the error taxonomy is not available in this medgap installation"
    elif not data.error_counts:
        notes["errors"] = "no wrong or partially correct rows to label"
    if data.diagnosis is None:
        notes["diagnosis"] = "the diagnosis module is not available in this medgap installation"
    return notes


def flatten_diffs(result: Any, path: tuple[str, ...] = ()) -> list[dict]:
    """Every dict holding a "diff" inside the comparison result, labelled by where it was found
    (dict keys on the way, or its own dimension/task/metric fields)."""
    if hasattr(result, "model_dump"):
        result = result.model_dump()
    if isinstance(result, dict):
        if "diff" in result:
            own = [str(result[k]) for k in ("dimension", "task", "metric") if result.get(k)]
            return [{**result, "label": list(path) + [p for p in own if p not in path]}]
        return [d for key, value in result.items() for d in flatten_diffs(value, path + (str(key),))]
    if isinstance(result, (list, tuple)):
        return [d for item in result for d in flatten_diffs(item, path)]
    return []


def is_experiment(a: RunConfig, b: RunConfig) -> bool:
    return bool(a.extra.get("experiment")) and bool(b.extra.get("experiment"))


def compare_runs(store: Store, a: RunConfig, b: RunConfig) -> Comparison | None:
    """Paired differences from the comparison module; None when it is not installed."""
    for name in COMPARE_MODULES:
        module = optional_module(name)
        if module is not None and hasattr(module, "compare_runs"):
            result = module.compare_runs(store, a.run_id, b.run_id)
            return Comparison(
                a=a.run_id, b=b.run_id, diffs=flatten_diffs(result), is_experiment=is_experiment(a, b)
            )
    return None
