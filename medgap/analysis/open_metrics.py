"""Aggregates of open-ended and fill-in rows, and agreement between key-point matching methods.

- `macro_recall`: mean over items of per-item key-point recall (MedBench's definition; an item asked
  several times is averaged first), with a 95% percentile-bootstrap CI over items;
- `rouge_l`: mean per-item ROUGE-L F, with its bootstrap CI;
- `fill_accuracy`: share of fill-in items with every fact right, exact binomial CI;
- `match_agreement`: Cohen's κ between each pair of methods stored on the same rows (covered/missed
  decisions pooled over points), so users see whether a cheap method can stand in for the judge.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from medgap.analysis.stats import bootstrap_ci, item_values, scored_values, share_ci
from medgap.records import Row, Sample


def per_item_means(rows: list[Row], key: str) -> list[float]:
    """details[key] averaged per item, over rows that have it."""
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        value = row.score.details.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[row.sample_id].append(float(value))
    return [sum(v) / len(v) for v in values.values()]


def open_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    open_rows = [r for r in rows if r.kind == "open"]
    if not open_rows:
        return {}
    answered = [r for r in open_rows if not r.errored]
    recalls = per_item_means(answered, "recall")
    rouges = per_item_means(answered, "rouge_l")
    out: dict = {
        "macro_recall": float(np.mean(recalls)) if recalls else None,
        "open_n": len(recalls),
        "rouge_l": float(np.mean(rouges)) if rouges else None,
        # None rather than 0 when no judge failed, so the column only shows where it matters
        "judge_errors": sum(1 for r in answered if r.score.details.get("judge_error")) or None,
        "points_total": sum(len(r.score.details.get("covered") or []) for r in answered),
        "points_missed": sum(len(r.score.details.get("missed") or []) for r in answered),
    }
    out["macro_recall_ci_low"], out["macro_recall_ci_high"] = bootstrap_ci(recalls)
    out["rouge_l_ci_low"], out["rouge_l_ci_high"] = bootstrap_ci(rouges)
    methods = sorted({str(r.score.details["match_method"]) for r in answered if r.score.details.get("match_method")})
    if methods:
        out["match_method"] = ",".join(methods)
    agreements = all_agreements(answered)
    if agreements:
        out["match_agreement"] = agreements
    return out


def fill_metrics(rows: list[Row], samples: dict[str, Sample]) -> dict:
    fill_rows = [r for r in rows if r.kind == "fill"]
    if not fill_rows:
        return {}
    graded = [r for r in fill_rows if r.graded]
    correct = sum(scored_values(graded))
    out: dict = {
        "fill_accuracy": correct / len(graded) if graded else None,
        "fill_n": len(graded),
        "fill_correct": int(correct),
    }
    out["fill_accuracy_ci_low"], out["fill_accuracy_ci_high"] = share_ci(item_values(graded))
    return out


def decision_pairs(rows: list[Row], method_a: str, method_b: str) -> list[tuple[bool, bool]]:
    """(a, b) per key point, over rows where both methods decided every point."""
    pairs: list[tuple[bool, bool]] = []
    for row in rows:
        covered_by = row.score.details.get("covered_by") or {}
        a, b = covered_by.get(method_a), covered_by.get(method_b)
        if a is not None and b is not None and len(a) == len(b):
            pairs.extend(zip(a, b, strict=True))
    return pairs


def agreement(rows: list[Row], method_a: str, method_b: str) -> dict | None:
    """Cohen's κ (statsmodels) on the covered/missed decisions of two methods, with its 95% CI.
    None when no row has both; κ is None when it is undefined (both methods gave one answer only)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    pairs = decision_pairs(rows, method_a, method_b)
    if not pairs:
        return None
    table = np.zeros((2, 2))
    for a, b in pairs:
        table[int(a), int(b)] += 1
    observed = float(np.trace(table) / table.sum())
    out = {
        "methods": [method_a, method_b],
        "points": len(pairs),
        "rows": sum(1 for r in rows if decision_pairs([r], method_a, method_b)),
        "observed_agreement": observed,
        "covered_rate": {
            method_a: float(table[1].sum() / table.sum()),
            method_b: float(table[:, 1].sum() / table.sum()),
        },
        "kappa": None, "kappa_ci_low": None, "kappa_ci_high": None,
    }
    expected = float((table.sum(1) @ table.sum(0)) / table.sum() ** 2)
    if expected < 1.0:  # else every decision fell in one category and κ is 0/0
        result = cohens_kappa(table)
        # the asymptotic interval can pass ±1 on few points; κ cannot
        out.update(kappa=float(result.kappa), kappa_ci_low=max(-1.0, float(result.kappa_low)),
                   kappa_ci_high=min(1.0, float(result.kappa_upp)))
    return out


def all_agreements(rows: list[Row]) -> dict[str, dict]:
    """κ for every pair of methods stored on these rows, keyed "a~b"."""
    methods = sorted({m for r in rows for m in (r.score.details.get("covered_by") or {})})
    out = {}
    for a, b in combinations(methods, 2):
        found = agreement(rows, a, b)
        if found is not None:
            out[f"{a}~{b}"] = found
    return out
