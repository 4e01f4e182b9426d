"""Aggregates over stored rows: per task, per dimension and overall, each with a 95% CI.

Each metric family is a function `(rows, samples) -> dict` in METRICS; a family returns {} when
its rows are absent, so a group only shows the numbers that apply to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from medgap.analysis.extraction_metrics import extraction_metrics, micro_f1_of
from medgap.analysis.generation_metrics import record_metrics
from medgap.analysis.open_metrics import fill_metrics, open_metrics
from medgap.analysis.robustness import robustness_metrics
from medgap.analysis.stats import item_values, scored_values, share_ci
from medgap.records import CHOICE_KINDS, DIMENSIONS, Row, Sample

MetricFamily = Callable[[list[Row], dict[str, Sample]], dict]


def choice_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    """Accuracy over graded choice rows (unanswered counts as not correct and is reported apart)."""
    choice = [r for r in rows if r.kind in CHOICE_KINDS]
    if not choice:
        return {}
    graded = [r for r in choice if r.graded]
    correct = sum(scored_values(graded))
    unanswered = sum(r.unanswered for r in graded)
    answered = len(graded) - unanswered
    out = {
        "accuracy": correct / len(graded) if graded else None,
        "n": len(graded),
        "correct": int(correct),
        "unanswered": unanswered / len(graded) if graded else None,
        "unanswered_n": unanswered,
        "accuracy_answered": correct / answered if answered else None,
    }
    out["ci_low"], out["ci_high"] = share_ci(item_values(graded))
    out.update(margin_metrics(graded))
    multi = [r for r in graded if r.kind == "multi"]
    if multi:
        out.update(micro_f1_of(multi, prefix="multi_"))
    return out


CLOSE_CALL_NATS = 0.1


def margin_metrics(rows: list[Row]) -> dict:
    """How fragile a log-probability accuracy is: rows decided by less than CLOSE_CALL_NATS between
    the chosen option and the runner-up (`close_calls`), of the rows decided by log-probabilities."""
    margins = [r.score.details["logprob_margin"] for r in rows if r.score.details.get("logprob_margin") is not None]
    if not margins:
        return {}
    return {"logprob_rows": len(margins), "close_calls": sum(m < CLOSE_CALL_NATS for m in margins),
            "close_call_nats": CLOSE_CALL_NATS, "median_margin": float(sorted(margins)[(len(margins) - 1) // 2])}


def row_counts(rows: list[Row], samples: dict[str, Sample]) -> dict:
    """Rows, items, failed model calls of every kind (retried on resume, never scored), and answered
    rows of items without gold (asked and stored, e.g. MedBench public test files: `ungraded`)."""
    ungraded = sum(
        1 for r in rows if not r.errored and (r.sample_id in samples and samples[r.sample_id].gold is None)
    )
    return {"rows": len(rows), "items": len({r.sample_id for r in rows}), "errors": sum(r.errored for r in rows),
            "ungraded": ungraded}


METRICS: list[MetricFamily] = [row_counts, choice_metrics, robustness_metrics, extraction_metrics, record_metrics,
                               open_metrics, fill_metrics]


def group_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    out: dict = {}
    for family in METRICS:
        out.update(family(rows, samples))
    return out


def usage_of(rows: list[Row]) -> dict:
    """What the run cost: tokens as the backend reported them (all calls of a row's solver chain) and
    the latency of the answered rows."""
    answered = [r.response for r in rows if not r.errored]
    reported = [r for r in answered if r.prompt_tokens is not None or r.completion_tokens is not None]
    latencies = sorted(r.latency_s for r in answered)
    return {
        "rows_with_tokens": len(reported),
        "prompt_tokens": sum(r.prompt_tokens or 0 for r in reported),
        "completion_tokens": sum(r.completion_tokens or 0 for r in reported),
        "latency_median_s": percentile(latencies, 0.5),
        "latency_p95_s": percentile(latencies, 0.95),
    }


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(run_id: str, model: str, rows: list[Row], samples: list[Sample], **header) -> dict:
    """The `medgap results --json` object."""
    by_id = {s.id: s for s in samples}
    by_dimension: dict[str, list[Row]] = defaultdict(list)
    by_task: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_dimension[row.dimension].append(row)
        by_task[row.task].append(row)
    ordered_dims = [d for d in DIMENSIONS if d in by_dimension]
    return {
        "run_id": run_id,
        "model": model,
        **header,
        "overall": group_metrics(rows, by_id),
        "usage": usage_of(rows),
        "dimensions": {d: group_metrics(by_dimension[d], by_id) for d in ordered_dims},
        "tasks": {
            t: {"dimension": by_task[t][0].dimension, **group_metrics(by_task[t], by_id)} for t in sorted(by_task)
        },
    }


def summarize_run(store, run_id: str, *, written: list[Row] | None = None,
                  samples: list[Sample] | None = None) -> dict:
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
