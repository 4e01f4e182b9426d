"""Agreement between key-point matching methods stored on the same rows (`medgap rescore`): Cohen's κ
between each pair of methods (covered/missed decisions pooled over points), so users see whether a
cheap method can stand in for the judge."""

from __future__ import annotations

from itertools import combinations

from pydantic import BaseModel, ConfigDict

from medgap.records import Row


class MethodAgreement(BaseModel):
    model_config = ConfigDict(defer_build=True)  # schema built on first use: only runs with open items need it

    methods: list[str]
    points: int
    rows: int
    observed_agreement: float
    covered_rate: dict[str, float]
    kappa: float | None = None  # None: undefined (both methods gave one answer only)
    kappa_ci_low: float | None = None
    kappa_ci_high: float | None = None


def decision_pairs(rows: list[Row], method_a: str, method_b: str) -> list[tuple[bool, bool]]:
    """(a, b) per key point, over rows where both methods decided every point."""
    pairs: list[tuple[bool, bool]] = []
    for row in rows:
        covered_by = row.score.details.get("covered_by") or {}
        a, b = covered_by.get(method_a), covered_by.get(method_b)
        if a is not None and b is not None and len(a) == len(b):
            pairs.extend(zip(a, b, strict=True))
    return pairs


def agreement(rows: list[Row], method_a: str, method_b: str) -> MethodAgreement | None:
    """Cohen's κ (statsmodels) on the covered/missed decisions of two methods, with its 95% CI.
    None when no row has both; κ is None when it is undefined (both methods gave one answer only)."""
    import numpy as np
    from statsmodels.stats.inter_rater import cohens_kappa

    pairs = decision_pairs(rows, method_a, method_b)
    if not pairs:
        return None
    table = np.zeros((2, 2))
    for a, b in pairs:
        table[int(a), int(b)] += 1
    observed = float(np.trace(table) / table.sum())
    out = MethodAgreement(
        methods=[method_a, method_b],
        points=len(pairs),
        rows=sum(1 for r in rows if decision_pairs([r], method_a, method_b)),
        observed_agreement=observed,
        covered_rate={
            method_a: float(table[1].sum() / table.sum()),
            method_b: float(table[:, 1].sum() / table.sum()),
        },
    )
    expected = float((table.sum(1) @ table.sum(0)) / table.sum() ** 2)
    if expected < 1.0:  # else every decision fell in one category and κ is 0/0
        result = cohens_kappa(table)
        # the asymptotic interval can pass ±1 on few points; κ cannot
        out.kappa = float(result.kappa)
        out.kappa_ci_low = max(-1.0, float(result.kappa_low))
        out.kappa_ci_high = min(1.0, float(result.kappa_upp))
    return out


def all_agreements(rows: list[Row]) -> dict[str, MethodAgreement]:
    """κ for every pair of methods stored on these rows, keyed "a~b"."""
    methods = sorted({m for r in rows for m in (r.score.details.get("covered_by") or {})})
    out = {}
    for a, b in combinations(methods, 2):
        found = agreement(rows, a, b)
        if found is not None:
            out[f"{a}~{b}"] = found
    return out
