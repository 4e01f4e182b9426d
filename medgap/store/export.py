"""Exports of a stored run: one JSONL line per (item, permutation), or a MedBench submission file."""

from __future__ import annotations

from collections.abc import Iterator

from medgap.records import Row, Sample
from medgap.store.sqlite import Store

EXPORT_FORMATS = ("jsonl", "medbench")


def gold_as_asked(sample: Sample, row: Row):
    if sample.gold is None:
        return None
    if sample.is_choice:
        return "".join(row.attempt.gold_letters or [])
    return sample.gold.model_dump(exclude_none=True, exclude_defaults=True)


def row_record(sample: Sample, row: Row, label=None) -> dict:
    """One export line; `label` is the row's error label (None for a correct or ungraded row)."""
    return {
        "item_id": row.sample_id,
        "permutation": row.permutation,
        "task": row.task,
        "dimension": row.dimension,
        "kind": row.kind,
        "question": sample.question,
        "options": row.attempt.options,
        "order": row.attempt.order,
        "gold": gold_as_asked(sample, row),
        "response": row.response.text,
        "extracted": row.score.extracted,
        "score": None if row.errored else row.score.value,
        "error": row.response.error,
        "logprobs": row.response.logprobs,
        "latency_s": row.response.latency_s,
        "details": row.score.details,
        "error_category": label.category if label else None,
        "error_confidence": label.confidence if label else None,
        "error_source": label.source if label else None,
    }


def medbench_record(sample: Sample, row: Row) -> dict | None:
    """The source's original record with `answer` filled from the model (choice: extracted letters)."""
    occurrences = sample.metadata.get("occurrences")  # one per given option order, in order
    originals = [o["original"] for o in occurrences] if occurrences else [sample.metadata.get("original")]
    if row.permutation >= len(originals) or originals[row.permutation] is None:
        return None
    record = dict(originals[row.permutation])
    record["answer"] = (row.score.extracted or "") if sample.is_choice else row.response.text
    return record


def export_rows(store: Store, run_id: str, fmt: str) -> Iterator[dict]:
    from medgap.analysis.errors import load_error_labels

    samples = {s.id: s for s in store.samples(run_id)}
    labels = load_error_labels(store, run_id) if fmt == "jsonl" else {}
    for row in store.iter_rows(run_id):
        sample = samples[row.sample_id]
        if fmt == "jsonl":
            yield row_record(sample, row, labels.get((row.sample_id, row.permutation)))
        else:
            record = medbench_record(sample, row)
            if record is not None:
                yield record
