"""Error labels of a run's wrong or partially correct rows: pre-label them (rules, optionally a judge
model), store the pre-labels so re-runs are cheap, read back the best label of each row (human
consensus over pre-label) and count primary categories per dimension."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medgap.analysis.prelabel import prelabel
from medgap.analysis.taxonomy import CATEGORY_KEYS, ErrorLabel
from medgap.models.base import Model
from medgap.records import DIMENSIONS, Row
from medgap.store.annotations import AnnotationStore, Key
from medgap.store.sqlite import Store


def is_wrong(row: Row) -> bool:
    """Graded, answered without a call error, and not fully correct (score or key-point recall below 1)."""
    if row.errored or row.score.value is None:
        return False
    recall = row.score.details.get("recall")
    return row.score.value < 1 or (isinstance(recall, (int, float)) and recall < 1)


def wrong_rows(store: Store, run_id: str) -> list[Row]:
    return [row for row in store.iter_rows(run_id) if is_wrong(row)]


def row_digest(row: Row) -> str:
    """Changes when the response or its score changes, so a stored pre-label is only reused for the
    row it was made from."""
    payload = json.dumps(
        [row.response.text, row.response.completion_tokens, row.score.model_dump()],
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass
class LabelReport:
    wrong: int = 0
    reused: int = 0
    ruled: int = 0
    judged: int = 0
    judge_failed: int = 0


def judged_and_unchanged(stored: tuple[str, ErrorLabel] | None, digest: str) -> bool:
    return stored is not None and stored[0] == digest and stored[1].source == "judge"


def label_run(
    store: Store,
    run_id: str,
    *,
    judge: Model | None = None,
    refresh: bool = False,
    concurrency: int = 8,
    on_judged: Callable[[int, ErrorLabel | None], None] | None = None,
) -> LabelReport:
    """Pre-label every wrong row of a run and store the labels. Rules are applied afresh each time (they
    are cheap, and may have improved since); a judge's label is kept while its row is unchanged (unless
    `refresh`), so a judge is only asked about rule labels without strong evidence it has not seen."""
    config = store.run_config(run_id)
    samples = {s.id: s for s in store.samples(run_id)}
    annotations = AnnotationStore(store)
    stored = {} if refresh else annotations.prelabels(run_id)
    max_tokens = config.generation.get("max_tokens")
    report = LabelReport()
    to_label: dict[Key, tuple[Row, str]] = {}
    for row in store.iter_rows(run_id):
        if not is_wrong(row):
            continue
        key, digest = (row.sample_id, row.permutation), row_digest(row)
        report.wrong += 1
        if judged_and_unchanged(stored.get(key), digest):
            report.reused += 1
        else:
            to_label[key] = (row, digest)
    done = prelabel([(row, samples.get(row.sample_id)) for row, _ in to_label.values()], max_tokens,
                    judge=judge, concurrency=concurrency, on_judged=on_judged)
    fresh = {key: (digest, label) for (key, (_, digest)), label in zip(to_label.items(), done.labels, strict=True)}
    report.ruled, report.judged, report.judge_failed = len(fresh), done.judged, done.judge_failed
    annotations.save_prelabels(run_id, fresh)
    return report


def load_error_labels(store: Store, run_id: str) -> dict[Key, ErrorLabel]:
    """The label of every wrong row of a run: human consensus where annotators reached one, else the
    stored judge label of an unchanged row, else the rule label (computed now: rules are cheap)."""
    config = store.run_config(run_id)
    annotations = AnnotationStore(store)
    consensus = annotations.consensus_labels(run_id)
    stored = annotations.prelabels(run_id)
    samples = {s.id: s for s in store.samples(run_id)}
    max_tokens = config.generation.get("max_tokens")
    out: dict[Key, ErrorLabel] = {}
    unlabelled: dict[Key, Row] = {}
    for row in wrong_rows(store, run_id):
        key = (row.sample_id, row.permutation)
        if key in consensus:
            out[key] = consensus[key]
        elif judged_and_unchanged(stored.get(key), row_digest(row)):
            out[key] = stored[key][1]
        else:
            unlabelled[key] = row
    ruled = prelabel([(row, samples.get(row.sample_id)) for row in unlabelled.values()], max_tokens).labels
    out.update(zip(unlabelled, ruled, strict=True))
    return out


# how much a label counts in `weighted_shares` (what `medgap diagnose` reads): a person's label (consensus,
# adjudicated) counts fully, a pre-label by its confidence, so a low-confidence guess moves the
# diagnosis a third as much as a certain label
CONFIDENCE_WEIGHTS = {"high": 1.0, "medium": 0.7, "low": 0.3}
HUMAN_SOURCES = ("consensus", "adjudicated")


def label_weight(label: ErrorLabel) -> float:
    return 1.0 if label.source in HUMAN_SOURCES else CONFIDENCE_WEIGHTS[label.confidence]


def category_counts(labels: Iterable[ErrorLabel]) -> dict:
    """Counts and shares of primary categories; `weighted_shares` weigh each label by
    `label_weight`, `low_counts` count the low-confidence pre-labels of each category."""
    labels = list(labels)
    counts = Counter(label.category for label in labels)
    low = Counter(label.category for label in labels if label.confidence == "low" and label.source not in HUMAN_SOURCES)
    weights: dict[str, float] = defaultdict(float)
    for label in labels:
        weights[label.category] += label_weight(label)
    total, weighted_total = len(labels), sum(weights.values())
    return {
        "n": total,
        "counts": {key: counts.get(key, 0) for key in CATEGORY_KEYS},
        "shares": {key: (counts.get(key, 0) / total if total else 0.0) for key in CATEGORY_KEYS},
        "low_counts": {key: low.get(key, 0) for key in CATEGORY_KEYS},
        "weighted_n": round(weighted_total, 3),
        "weighted_counts": {key: round(weights.get(key, 0.0), 3) for key in CATEGORY_KEYS},
        "weighted_shares": {key: (weights.get(key, 0.0) / weighted_total if weighted_total else 0.0)
                            for key in CATEGORY_KEYS},
    }


def distribution(pairs: Iterable[tuple[str, ErrorLabel]]) -> dict:
    """{"overall": {...}, "dimensions": {dimension: {...}}} from (dimension, label) pairs."""
    by_dimension: dict[str, list[ErrorLabel]] = defaultdict(list)
    for dimension, label in pairs:
        by_dimension[dimension].append(label)
    ordered = [d for d in DIMENSIONS if d in by_dimension] + sorted(set(by_dimension) - set(DIMENSIONS))
    return {
        "overall": category_counts(c for d in ordered for c in by_dimension[d]),
        "dimensions": {d: category_counts(by_dimension[d]) for d in ordered},
    }


def error_distribution(store: Store, run_id: str, labels: dict[Key, ErrorLabel] | None = None) -> dict:
    """Counts and shares of primary error categories, overall and per dimension, of a run's wrong rows
    (the `medgap errors --json` object); `sources` says which labeller each count rests on."""
    labels = load_error_labels(store, run_id) if labels is None else labels
    rows = [row for row in wrong_rows(store, run_id) if (row.sample_id, row.permutation) in labels]
    chosen = [labels[(row.sample_id, row.permutation)] for row in rows]
    return {
        "run_id": run_id,
        **distribution((row.dimension, label) for row, label in zip(rows, chosen, strict=True)),
        "sources": dict(Counter(label.source for label in chosen)),
        "low_confidence": sum(1 for label in chosen if label.confidence == "low"),
    }
