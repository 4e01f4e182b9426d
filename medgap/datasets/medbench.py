"""MedBench JSONL: one object per line with `question`, `options`, `answer` and `other`
(`other.source` names the MedBench task, `other.id` the item).

- `options` is a list of labelled strings ("A. text", "A: text", "A．text") or null. Newer files leave
  it null and write the options into `question` after an instruction preamble
  (`…\\n## 问题\\n<stem>\\nA. …\\nB. …`); the options are parsed out of the text and the preamble is
  kept apart in `metadata["instruction"]`.
- `answer` is option letters ("B", "ACD"), free text for open items, or null/"" in the public test
  files: those items are ungraded (`gold=None`).
- Robustness files repeat an item (same `other.id`) with its options shuffled: the repeats become ONE
  sample whose `given_orders` lists each order as original letters (first occurrence = original).
- `metadata["original"]` keeps the record as read and `metadata["line"]` its line, for the
  submission exporter; merged repeats list every record in `metadata["occurrences"]`, aligned with
  `given_orders`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from medgap.datasets import medbench_ie
from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    UniqueIds,
    choice_kind,
    gold_letters,
    json_object,
    numbered_lines,
    option_block,
    parse_options,
    required_text,
    resolve_dimension,
)
from medgap.records import DIMENSIONS, Gold, Sample, Source

DATASET = "MedBench"
ATTRIBUTION = "MedBench (Shanghai AI Laboratory), https://medbench.opencompass.org.cn"
LICENSE = "MedBench terms of use"

# MedBench task (`other.source`) -> dimension. Spelling variants are matched ignoring case, '-', '_'.
SOURCE_DIMENSIONS: dict[str, str] = {
    # 医学知识问答 — exam questions and health-consultation answers recall knowledge. MedHC is put
    # here rather than under reasoning: its items are single consultation questions, not cases.
    "Med-Exam": "knowledge_qa",
    "CMExam": "knowledge_qa",
    "MedHC": "knowledge_qa",
    "MedHG": "knowledge_qa",
    "MedSpeQA": "knowledge_qa",
    # 医学语言理解 — information extraction, normalisation and classification of clinical text.
    "CMeEE": "language_understanding",
    "CMeEE-V2": "language_understanding",
    "CMeIE": "language_understanding",
    "CHIP-CDEE": "language_understanding",
    "CHIP-CDN": "language_understanding",
    "CHIP-CTC": "language_understanding",
    "IMCS-V2-NER": "language_understanding",
    # 医学语言生成 — writing medical reports / histories from dialogues.
    "IMCS-V2-MRG": "language_generation",
    "DBMHG": "language_generation",
    # 复杂医学推理 — diagnosis, treatment and case analysis. MedDG (diagnostic dialogue) asks for the
    # next clinical step of a consultation, so it is scored as reasoning, not as free generation.
    "DDx-basic": "complex_reasoning",
    "DDx-advanced": "complex_reasoning",
    "CMB-Clin": "complex_reasoning",
    "MedTreat": "complex_reasoning",
    "MedDG": "complex_reasoning",
    "MedPHM": "complex_reasoning",
    "SMDoc": "complex_reasoning",
    # 医疗安全和伦理
    "MedSafety": "safety_ethics",
    "MedEthics": "safety_ethics",
    "DrugCA": "safety_ethics",
}

_QUESTION_HEADING = re.compile(r"^#{1,6}[ \t]*问题[ \t]*[:：]?[ \t]*$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,6}[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
_OPTIONS_HEADINGS = ("选项", "选择")
def _normalise(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


_BY_NORMALISED = {_normalise(name): dimension for name, dimension in SOURCE_DIMENSIONS.items()}
_BY_NORMALISED[_normalise("MedExam")] = "knowledge_qa"


def dimension_for(source: str) -> str | None:
    return _BY_NORMALISED.get(_normalise(source))


def split_instruction(question: str) -> tuple[str | None, str, str | None]:
    """(preamble, body, trailing sections) of a question written in the `## 问题` layout.

    Without the heading the whole text is the body. An `## 选项` heading inside the body only
    introduces the options; any other later heading (e.g. `## 答案格式`) ends the body.
    """
    headings = list(_QUESTION_HEADING.finditer(question))
    if not headings:
        return None, question.strip(), None
    heading = headings[-1]
    preamble = question[: heading.start()].strip() or None
    body = question[heading.end() :]
    suffix = None
    for later in _ANY_HEADING.finditer(body):
        if later.group(1).rstrip(":：") in _OPTIONS_HEADINGS:
            continue
        body, suffix = body[: later.start()], body[later.start() :].strip() or None
        break
    body = "\n".join(line for line in body.splitlines() if not _is_options_heading(line))
    return preamble, body.strip(), suffix


def _is_options_heading(line: str) -> bool:
    match = _ANY_HEADING.match(line)
    return bool(match and match.group(1).rstrip(":：") in _OPTIONS_HEADINGS)


def stem_and_options(body: str, given: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The stem, and the options: as given, or parsed from the end of the body when none are given.
    Given options that the body also spells out are removed from the stem (no doubled options)."""
    lines = body.splitlines()
    block = option_block(lines)
    if block is None:
        return body, given
    start, parsed = block
    if given and [_squash(t) for t in parsed.values()] != [_squash(t) for t in given.values()]:
        return body, given
    stem = "\n".join(lines[:start]).strip()
    if not stem:
        raise DatasetError("question has options but no stem", field="question")
    return stem, given or parsed


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _gold(answer: Any, options: dict[str, str]) -> Gold | None:
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        return None
    if options:
        return Gold(letters=gold_letters(answer, options))
    if isinstance(answer, str):
        return Gold(text=answer.strip())
    return Gold(structure=answer)


def _other(record: dict[str, Any]) -> dict[str, Any]:
    other = record.get("other")
    if other is None:
        return {}
    if not isinstance(other, dict):
        raise DatasetError(f"expected an object, found {type(other).__name__}", field="other")
    return other


def _dimension(source: str, override: str | None, from_other: bool) -> str:
    if override is not None:
        return override
    dimension = dimension_for(source)
    if dimension is None:
        what = "MedBench source" if from_other else "MedBench file name (no other.source)"
        raise DatasetError(
            f"unknown {what} {source!r}: pass --dimension ({' | '.join(DIMENSIONS)})",
            field="other.source" if from_other else None,
        )
    return dimension


def _order_in(original: dict[str, str], repeat: dict[str, str]) -> list[str] | None:
    """The repeat's options as original letters, or None when they are not the same options."""
    unused = list(original)
    order = []
    for text in repeat.values():
        match = next((letter for letter in unused if _squash(original[letter]) == _squash(text)), None)
        if match is None:
            return None
        unused.remove(match)
        order.append(match)
    return order if not unused else None


def _merge_repeat(first: Sample, repeat: Sample, line: int) -> None:
    """Fold a shuffled repeat of `first` into it as one more given order."""
    first_line = first.metadata["line"]
    if _squash(first.question) != _squash(repeat.question):
        raise DatasetError(f"id repeats line {first_line} with a different question", field="other.id")
    order = _order_in(first.options, repeat.options)
    if order is None:
        raise DatasetError(f"id repeats line {first_line} with different options", field="options")
    first_gold = first.gold.letters if first.gold else None
    repeat_gold = (
        sorted(order[ord(letter) - ord("A")] for letter in repeat.gold.letters)
        if repeat.gold and repeat.gold.letters
        else None
    )
    if first_gold != repeat_gold:
        raise DatasetError(
            f"answer disagrees with line {first_line} once options are unshuffled "
            f"({''.join(repeat_gold or []) or 'none'} vs {''.join(first_gold or []) or 'none'})",
            field="answer",
        )
    if not first.given_orders:
        first.given_orders = [list(first.options)]
        first.metadata["occurrences"] = [{"line": first_line, "original": first.metadata["original"]}]
    first.given_orders.append(order)
    first.metadata["occurrences"].append({"line": line, "original": repeat.metadata["original"]})


def parse_record(record: dict[str, Any], *, path: Path, line: int, dimension: str | None) -> Sample:
    other = _other(record)
    source_name = str(other.get("source") or path.stem)
    task = f"medbench-{source_name}"
    dim = _dimension(source_name, dimension, from_other=bool(other.get("source")))
    preamble, body, suffix = split_instruction(required_text(record, "question"))
    stem, options = stem_and_options(body, parse_options(record.get("options")))
    gold = _gold(record.get("answer"), options)
    item_id = other.get("id")
    metadata: dict[str, Any] = {"original": record, "line": line, "other": other}
    if preamble:
        metadata["instruction"] = preamble
    if suffix:
        metadata["instruction_suffix"] = suffix
    sample = Sample(
        id=f"{task}/{item_id if item_id is not None else f'L{line}'}",
        source=Source(dataset=DATASET, attribution=ATTRIBUTION, license=LICENSE, path=str(path), line=line),
        task=task,
        dimension=dim,
        kind=choice_kind(options, gold, f"{preamble or ''}\n{stem}"),
        question=stem,
        options=options,
        gold=gold,
        metadata=metadata,
    )
    return medbench_ie.adapt(sample)  # extraction and record sources become their own kinds


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> list[Sample]:
    """Samples of a MedBench JSONL file; `dimension` overrides the source table for every item."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path)
    bad = BadRows(path, skip_bad, on_skip)
    samples: dict[str, Sample] = {}
    ids = UniqueIds()
    for line, raw in numbered_lines(path):
        with bad.row(line):
            sample = parse_record(json_object(raw), path=path, line=line, dimension=dimension)
            first = samples.get(sample.id)
            if first is not None and first.is_choice and sample.is_choice:
                _merge_repeat(first, sample, line)
                continue
            ids.claim(sample.id, line, field="other.id")
            samples[sample.id] = sample
    return list(samples.values())
