"""Exports of a stored run: one JSONL line per (item, permutation), or a MedBench submission file."""

from __future__ import annotations

from collections.abc import Iterator

from medgap.datasets.medbench import submission_line, submission_record
from medgap.records import Row, Sample
from medgap.redact import known_secrets, redact_value
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
        "truncated": row.response.truncated,
        "settings": row.settings,
        "details": row.score.details,
        "error_category": label.category if label else None,
        "error_confidence": label.confidence if label else None,
        "error_source": label.source if label else None,
    }


def medbench_record(sample: Sample, row: Row) -> dict | None:
    """The source's original record with `answer` filled from the model (choice: the extracted
    letters, "" when unanswered; a failed request: null, so replaying the file fails it again)."""
    if row.errored:
        answer = None
    else:
        answer = (row.score.extracted or "") if sample.is_choice else row.response.text
    return submission_record(sample, row.permutation, answer)


def export_rows(store: Store, run_id: str, fmt: str) -> Iterator[dict]:
    """The run's records in `fmt`, secrets redacted (also from rows stored before redaction existed);
    a MedBench submission keeps the data file's line order."""
    from medgap.analysis.errors import load_error_labels

    samples = {s.id: s for s in store.samples(run_id)}
    secrets = known_secrets()  # read once: the environment does not change during an export
    if fmt == "jsonl":
        labels = load_error_labels(store, run_id)
        for row in store.iter_rows(run_id):
            label = labels.get((row.sample_id, row.permutation))
            yield redact_value(row_record(samples[row.sample_id], row, label), secrets)
        return
    records = []
    for row in store.iter_rows(run_id):
        sample = samples[row.sample_id]
        record = medbench_record(sample, row)
        if record is not None:
            records.append((submission_line(sample, row.permutation), redact_value(record, secrets)))
    records.sort(key=lambda pair: pair[0])
    for _, record in records:
        yield record
