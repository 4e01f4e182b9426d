"""Agreement among annotators of error categories: Fleiss' κ (statsmodels) over the items every
annotator labelled, Krippendorff's α (nominal, `krippendorff`) over all labelled items (α handles
missing labels), per-category agreement, and the pre-labeller's accuracy against the consensus.

A label table has one row per item and one column per annotator; a cell is a category key, or None
where that annotator has not labelled the item. Statistics that are undefined (no items, or only one
category ever used, so chance agreement is 1) come back as None.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import krippendorff
import numpy as np
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from medgap.analysis.taxonomy import CATEGORY_KEYS, ErrorLabel
from medgap.store.annotations import AnnotationStore, Key
from medgap.store.sqlite import Store

LabelTable = Sequence[Sequence[Hashable | None]]


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _domain(table: LabelTable, categories: Sequence[Hashable] | None) -> list[Hashable]:
    if categories is not None:
        return list(categories)
    seen = {cell for row in table for cell in row if cell is not None}
    return sorted(seen, key=str)


def complete_rows(table: LabelTable) -> list[Sequence[Hashable]]:
    return [row for row in table if row and all(cell is not None for cell in row)]


def count_table(table: LabelTable, categories: Sequence[Hashable] | None = None) -> np.ndarray:
    """Items x categories counts of the complete rows (the layout Fleiss' κ takes)."""
    domain = _domain(table, categories)
    index = {value: i for i, value in enumerate(domain)}
    rows = complete_rows(table)
    if not rows:
        return np.zeros((0, len(domain)), dtype=int)
    codes = np.array([[index[cell] for cell in row] for row in rows])
    counts, _ = aggregate_raters(codes, n_cat=len(domain))
    return counts


def fleiss_kappa(table: LabelTable, categories: Sequence[Hashable] | None = None) -> float | None:
    """Fleiss' κ over the items labelled by every rater."""
    counts = count_table(table, categories)
    if counts.shape[0] == 0 or counts.sum(axis=1)[0] < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(sm_fleiss_kappa(counts, method="fleiss"))


def observed_agreement(table: LabelTable, categories: Sequence[Hashable] | None = None) -> float | None:
    """Mean share of agreeing rater pairs per item (Fleiss' P̄), over complete items."""
    counts = count_table(table, categories)
    if counts.shape[0] == 0:
        return None
    n = counts.sum(axis=1)[0]
    if n < 2:
        return None
    return float(((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean())


def krippendorff_alpha(table: LabelTable, categories: Sequence[Hashable] | None = None) -> float | None:
    """Krippendorff's α for nominal data; items with fewer than two labels do not count."""
    domain = _domain(table, categories)
    index = {value: i for i, value in enumerate(domain)}
    data = np.array([[np.nan if cell is None else index[cell] for cell in row] for row in table], dtype=float)
    if data.size == 0 or len(domain) < 2:
        return None
    pairable = data[(~np.isnan(data)).sum(axis=1) >= 2]
    if pairable.size == 0 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(
            krippendorff.alpha(
                reliability_data=data.T, level_of_measurement="nominal", value_domain=list(range(len(domain)))
            )
        )


def per_category_agreement(table: LabelTable, categories: Sequence[Hashable] | None = None) -> dict:
    """For each category, over complete items: how often it was chosen, the proportion of specific
    agreement (given one rater chose it, the chance another did too) and Fleiss' κ of the table
    collapsed to this category versus the rest (Fleiss' category-wise κ)."""
    domain = _domain(table, categories)
    counts = count_table(table, domain)
    out = {}
    for j, value in enumerate(domain):
        chosen = counts[:, j] if counts.shape[0] else np.zeros(0)
        total = int(chosen.sum())
        n = int(counts.sum(axis=1)[0]) if counts.shape[0] else 0
        specific = float((chosen * (chosen - 1)).sum() / (total * (n - 1))) if total and n > 1 else None
        kappa = None
        if total and n > 1:
            binary = np.column_stack([chosen, n - chosen])
            with np.errstate(divide="ignore", invalid="ignore"):
                kappa = _finite(sm_fleiss_kappa(binary, method="fleiss"))
        out[value] = {"labels": total, "specific_agreement": specific, "kappa": kappa}
    return out


def prelabel_accuracy(prelabels: dict[Key, ErrorLabel], consensus: dict[Key, ErrorLabel]) -> dict:
    """How often the pre-label's primary category equals the consensus, overall and split by the
    pre-label's source, confidence and category (the last is the pre-labeller's precision)."""
    shared = [key for key in consensus if key in prelabels]

    def score(keys: list[Key]) -> dict:
        correct = sum(1 for k in keys if prelabels[k].category == consensus[k].category)
        return {"n": len(keys), "correct": correct, "accuracy": correct / len(keys) if keys else None}

    groups: dict[str, dict[str, list[Key]]] = {
        "by_source": defaultdict(list),
        "by_confidence": defaultdict(list),
        "by_category": defaultdict(list),
    }
    for key in shared:
        label = prelabels[key]
        groups["by_source"][label.source].append(key)
        groups["by_confidence"][label.confidence].append(key)
        groups["by_category"][label.category].append(key)
    return {
        **score(shared),
        **{name: {k: score(v) for k, v in group.items()} for name, group in groups.items()},
    }


def label_table(
    annotations: AnnotationStore, run_id: str
) -> tuple[list[Key], list[str], list[list[str | None]]]:
    """(items, annotator names, table) of the run's sample."""
    names = annotations.annotator_names(run_id)
    labels = annotations.labels(run_id)
    items = annotations.items(run_id)
    table: list[list[str | None]] = []
    for key in items:
        by_name = labels.get(key, {})
        table.append([by_name[name].category if name in by_name else None for name in names])
    return items, names, table


def agreement_report(store: Store, run_id: str) -> dict:
    """Everything `medgap errors --agreement` shows, as plain data."""
    annotations = AnnotationStore(store)
    items, names, table = label_table(annotations, run_id)
    statuses = annotations.statuses(run_id)
    prelabels = {key: label for key, (_, label) in annotations.prelabels(run_id).items()}
    consensus = annotations.consensus_labels(run_id)
    return {
        "run_id": run_id,
        "annotators": names,
        "items": len(items),
        "complete": len(complete_rows(table)),
        "status": dict(Counter(state.status for state in statuses.values())),
        "observed_agreement": observed_agreement(table, CATEGORY_KEYS),
        "fleiss_kappa": fleiss_kappa(table, CATEGORY_KEYS),
        "krippendorff_alpha": krippendorff_alpha(table, CATEGORY_KEYS),
        "per_category": per_category_agreement(table, CATEGORY_KEYS),
        "prelabel": prelabel_accuracy(prelabels, consensus),
    }
