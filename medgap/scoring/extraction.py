"""Scoring of extraction items (MedBench 医学语言理解: CMeEE, CMeIE, CHIP-CDEE, CHIP-CDN, CHIP-CTC).

The gold structure and the model's answer become sets of exact-match tuples (`extraction_answers`); a row
records its tp/fp/fn so that `micro_f1_of` pools them over items, as OpenCompass's MedBench scorer
does. The row's own value is its item-level F1 (1.0 when both sets are empty); a classification
row's value is 1 or 0 and it also records the gold and predicted labels for macro-F1.

Output with no answer in any known layout is a format error (`format_error: true` and a
`parse_error` message), scored as nothing found — never silently as an empty answer.

Which extraction an item asks for (`extraction_type(sample)`): `metadata["extraction_type"]` (or
the same field of the source record), else the MedBench source, else the shape of the gold.
"""

from __future__ import annotations

from typing import Any

from medgap.records import Attempt, Response, Sample, Score
from medgap.scoring.extraction_answers import (
    EXTRACTION_TYPES,
    Item,
    ParseError,
    ShapeError,
    Vocabulary,
    default_vocabulary,
    format_item,
    gold_items,
    parse_answer,
)
from medgap.scoring.extraction_sources import SOURCE_TYPES, source_key

_SHOWN = 500  # characters of `extracted` kept for display


def sample_field(sample: Sample, key: str) -> Any:
    """A field set by a loader in metadata, or present in the source record as read."""
    if key in sample.metadata:
        return sample.metadata[key]
    original = sample.metadata.get("original")
    return original.get(key) if isinstance(original, dict) else None


def extraction_type(sample: Sample) -> str:
    """entities | relations | events | normalization | classification (see the module docstring)."""
    stated = sample_field(sample, "extraction_type")
    if stated is not None:
        if stated not in EXTRACTION_TYPES:
            known = ", ".join(EXTRACTION_TYPES)
            raise ValueError(f"item {sample.id}: extraction_type {stated!r} is not one of {known}")
        return stated
    other = sample.metadata.get("other")
    source = other.get("source") if isinstance(other, dict) else None
    for name in (source, sample.task.removeprefix("medbench-")):
        if name and source_key(str(name)) in SOURCE_TYPES:
            return SOURCE_TYPES[source_key(str(name))]
    inferred = infer_type(sample.gold.structure if sample.gold else None)
    if inferred is None:
        raise ValueError(f"item {sample.id}: cannot tell the extraction type; set metadata extraction_type")
    return inferred


def infer_type(structure: Any) -> str | None:
    """The extraction type a gold structure's shape implies, or None."""
    if isinstance(structure, dict):
        return "entities" if all(isinstance(v, list) for v in structure.values()) else None
    if not isinstance(structure, list) or not structure:
        return None
    first = structure[0]
    if isinstance(first, str):
        return "normalization"
    if isinstance(first, (list, tuple)):
        return {2: "entities", 3: "relations"}.get(len(first))
    if not isinstance(first, dict):
        return None
    keys = {str(k).lower() for k in first}
    if "主体词" in keys:
        return "events"
    if keys & {"head", "subject", "头实体", "predicate", "relation"}:
        return "relations"
    if first.get("type") == "normalization":
        return "normalization"
    if keys & {"type", "类型", "entity", "实体"}:
        return "entities"
    return None


def vocabulary(sample: Sample, kind: str) -> Vocabulary:
    """Known names for telling the layout of an answer: MedBench's types and relations plus the item's
    own `labels` (a type outside the item's list is then read, and counted wrong, rather than making
    the line unreadable); for classification the item's labels alone when it has them."""
    labels = sample_field(sample, "labels")
    base = default_vocabulary(kind)
    if not labels:
        return base
    if isinstance(labels, str):
        labels = [part for part in labels.replace("，", ",").replace("、", ",").split(",") if part.strip()]
    own = Vocabulary.of(types=labels, relations=labels, labels=labels)
    return {
        "entities": Vocabulary(base.types | own.types, base.relations, base.labels),
        "relations": Vocabulary(base.types, base.relations | own.relations, base.labels),
        "classification": Vocabulary(base.types, base.relations, own.labels),
    }.get(kind, base)


def counts(gold: list[Item], predicted: list[Item]) -> dict[str, int]:
    gold_set, predicted_set = set(gold), set(predicted)
    return {
        "tp": len(gold_set & predicted_set),
        "fp": len(predicted_set - gold_set),
        "fn": len(gold_set - predicted_set),
    }


def item_f1(tp: int, fp: int, fn: int) -> float:
    if tp + fp + fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def score_extraction(sample: Sample, attempt: Attempt, response: Response) -> Score:
    kind = extraction_type(sample)
    vocab = vocabulary(sample, kind)
    details: dict[str, Any] = {"extraction_type": kind}
    gold: list[Item] | None = None
    if sample.gold is not None:
        try:
            gold = gold_items(sample.gold.structure if sample.gold.structure is not None else sample.gold.text,
                              kind, vocab)
        except ShapeError as exc:
            return Score(details={**details, "unscored": f"gold of item {sample.id}: {exc}"})
        vocab = vocab.extended(kind, gold)
    try:
        predicted = parse_answer(response.text, kind, vocab)
    except ParseError as exc:
        predicted = None
        if str(exc) == "empty response":
            details["empty_response"] = True
        else:
            details.update(format_error=True, parse_error=str(exc))
    shown = None if predicted is None else "; ".join(format_item(kind, i) for i in predicted)[:_SHOWN]
    if gold is None:
        return Score(extracted=shown, value=None, details={**details, "ungraded": True})
    found = predicted or []
    tally = counts(gold, found)
    details.update(tally)
    details["f1"] = item_f1(**tally)
    # as open items: covered is aligned with points; missed and spurious are readable tuples
    details["points"] = [format_item(kind, i) for i in gold]
    details["covered"] = [i in set(found) for i in gold]
    details["missed"] = [format_item(kind, i) for i in gold if i not in set(found)]
    details["spurious"] = [format_item(kind, i) for i in found if i not in set(gold)]
    if kind == "classification":
        details["gold_label"] = gold[0][0] if gold else None
        details["predicted_label"] = found[0][0] if found else None
        value = 1.0 if found and gold and found[0] == gold[0] else 0.0
    else:
        value = details["f1"]
    return Score(extracted=shown, value=value, details=details)
