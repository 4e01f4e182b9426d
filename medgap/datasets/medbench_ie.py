"""MedBench's language-understanding and language-generation sources as extraction and record items.

The MedBench loader reads every item without options as an open item. For these sources the answer
is structured, and `adapt` turns such a sample into the kind that scores it:

- CMeEE / CMeEE-V2 / IMCS-V2-NER (entities), CMeIE (triples), CHIP-CDEE (events), CHIP-CDN (standard
  terms), CHIP-CTC (a class label) -> kind `extraction`, `metadata["extraction_type"]` set. The
  answer is data (OpenCompass layout: `[{"type": "疾病", "entity": "…"}]`, `[{"predicate", "subject",
  "object"}]`, `[{"主体词", "发生状态", "描述词", "解剖部位"}]`, `[{"entity", "type": "normalization"}]`),
  a JSON string of it (MedBench v3, including `{"疾病": [...]}` maps), a label, or text in the
  answer layout the prompt asks for (`疾病：A，B`).
- IMCS-V2-MRG, DBMHG -> kind `record`; the answer is `[{"type": "主诉", "entity": "…"}]`, a section
  map, or sectioned text (`主诉：…\\n现病史：…`).

A gold answer that cannot be read raises DatasetError naming the field, so a bad row is reported at
load time rather than scored as zero. Public test files without answers stay ungraded.
"""

from __future__ import annotations

import json

from medgap.datasets.errors import DatasetError
from medgap.records import Gold, Sample
from medgap.scoring.extraction_sources import SOURCE_TYPES, source_key

RECORD_SOURCES = frozenset({"imcsv2mrg", "dbmhg"})


def medbench_source(sample: Sample) -> str:
    other = sample.metadata.get("other")
    source = other.get("source") if isinstance(other, dict) else None
    return str(source or sample.task.removeprefix("medbench-"))


def adapt(sample: Sample) -> Sample:
    """`sample` as an extraction or record item when its MedBench source is one; else unchanged."""
    if sample.options:
        return sample
    key = source_key(medbench_source(sample))
    if key in SOURCE_TYPES:
        return as_extraction(with_instructions(sample), SOURCE_TYPES[key])
    if key in RECORD_SOURCES:
        return as_record(with_instructions(sample))
    return sample


def with_instructions(sample: Sample) -> Sample:
    """The question with the preamble and trailing sections the loader kept apart (`## 答案格式` …):
    for these tasks they say which types to extract and how to write the answer, so the model must
    see them."""
    parts = [sample.metadata.get("instruction"), sample.question, sample.metadata.get("instruction_suffix")]
    question = "\n\n".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    return sample.model_copy(update={"question": question})


def _structured_gold(gold: Gold | None) -> Gold | None:
    """A JSON-string answer (MedBench v3) as data; other answers as they are."""
    if gold is None or gold.structure is not None or not gold.text:
        return gold
    text = gold.text.strip()
    if text[:1] in "[{":
        try:
            return gold.model_copy(update={"structure": json.loads(text)})
        except json.JSONDecodeError as exc:
            raise DatasetError(f"answer looks like JSON but does not parse: {exc.msg}", field="answer") from None
    return gold


def as_extraction(sample: Sample, extraction_type: str) -> Sample:
    gold = _structured_gold(sample.gold)
    adapted = sample.model_copy(update={
        "kind": "extraction",
        "gold": gold,
        "metadata": {**sample.metadata, "extraction_type": extraction_type},
    })
    check_extraction_gold(adapted)
    return adapted


def as_record(sample: Sample) -> Sample:
    adapted = sample.model_copy(update={"kind": "record", "gold": _structured_gold(sample.gold)})
    check_record_gold(adapted)
    return adapted


def check_extraction_gold(sample: Sample) -> None:
    """Raise DatasetError (field 'answer') when an extraction item's gold cannot be read."""
    from medgap.scoring.extraction import vocabulary  # the answer parser: loaded by extraction sources only
    from medgap.scoring.extraction_answers import ShapeError, gold_items

    if sample.gold is None:
        return
    kind = sample.metadata["extraction_type"]
    source = sample.gold.structure if sample.gold.structure is not None else sample.gold.text
    try:
        gold_items(source, kind, vocabulary(sample, kind))
    except ShapeError as exc:
        raise DatasetError(f"answer is not readable as {kind}: {exc}", field="answer") from None


def check_record_gold(sample: Sample) -> None:
    """Raise DatasetError (field 'answer') when a record item's gold has no sections."""
    from medgap.scoring.record import RecordGoldError, reference_of  # heavy: loaded by record sources only

    if sample.gold is None:
        return
    try:
        reference_of(sample)
    except RecordGoldError as exc:
        raise DatasetError(str(exc), field="answer") from None
