"""MedBench JSONL, both releases: one object per line with `question`, `options`, `answer` and `other`
(`other.source` names the MedBench task, `other.id` the item).

- The task (`other.source`, else the file name) gives the dimension (`SOURCE_DIMENSIONS`: old-release,
  V4 and OpenCompass names; `MedExam_V4` reads as MedExam). An unknown task is one error for the file.
- `options` is a list of labelled strings ("A. text"), an object, one string ("A、x B、y" or
  "A、xB、y") or null. Otherwise the options are read from the end of `question` (`read_question`):
  one per line or on one line, with or without spaces, after a `## 问题` preamble or after few-shot
  examples that end in an answer line ("答: A"); preamble and examples are kept apart in
  `metadata["instruction"]`, so copies behind different examples have one stem.
- `answer` is option letters ("B", "ACD"), free text for open items, or null/"" in the public test
  files: those items are ungraded (`gold=None`). A choice row without options, or a gold letter
  outside them, is an error naming file, line and field.
- Robustness files repeat an item (same `other.id`, or no id and the same stem and option set) with
  its options shuffled: the copies become ONE sample whose `given_orders` lists each copy's order as
  original letters (first copy = original), one row each. Another line reusing an id is its own item
  (`<id>~2`).
- `metadata["original"]` keeps the record as read and `metadata["line"]` its line, for the
  submission exporter (`submission_record`); merged copies list every record in
  `metadata["occurrences"]`, aligned with `given_orders`. `metadata["question_key"]` is the
  normalised stem replay matches predictions by.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgap.datasets import medbench_ie
from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    choice_kind,
    gold_letters,
    inline_options,
    json_object,
    numbered_lines,
    option_block,
    parse_options,
    required_text,
    resolve_dimension,
)
from medgap.records import DIMENSIONS, Dimension, Gold, Sample, Source
from medgap.scoring.extraction_sources import SOURCE_TYPES, source_key

DATASET = "MedBench"
ATTRIBUTION = "MedBench (Shanghai AI Laboratory), https://medbench.opencompass.org.cn"
LICENSE = "MedBench terms of use"

# MedBench task (`other.source`, else the file name) -> dimension. Names are matched ignoring case,
# '-', '_' and spaces; a release suffix (`MedExam_V4`) or split word (`_test`) is dropped when the
# name itself is not in the table (see `dimension_for`).
SOURCE_DIMENSIONS: dict[str, Dimension] = {
    # 医学知识问答 — exam questions and consultation answers recall knowledge. MedHC (health) and
    # MedMC (medication consultation) are single consultation questions, not cases.
    "Med-Exam": "knowledge_qa",
    "MedExam": "knowledge_qa",
    "CMExam": "knowledge_qa",
    "MedHC": "knowledge_qa",
    "MedMC": "knowledge_qa",
    "MedHG": "knowledge_qa",
    "MedSpeQA": "knowledge_qa",
    # 医学语言理解 — information extraction, normalisation and classification of clinical text.
    "CMeEE": "language_understanding",
    "CMeEE-V2": "language_understanding",
    "CMeIE": "language_understanding",
    "CMeIE-V2": "language_understanding",
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
    "CMB-Clin-extended": "complex_reasoning",
    "MedTreat": "complex_reasoning",
    "MedDG": "complex_reasoning",
    "MedPHM": "complex_reasoning",
    "SMDoc": "complex_reasoning",
    # 医疗安全和伦理 — including prescription review (MedRxCheck: single-choice, multi-choice and
    # short-answer variants), which MedBench V4 scores under safety.
    "MedSafety": "safety_ethics",
    "MedEthics": "safety_ethics",
    "DrugCA": "safety_ethics",
    "MedRxCheck": "safety_ethics",
    "MedRxCheck_SCQ": "safety_ethics",
    "MedRxCheck_MSQ": "safety_ethics",
    "MedRxCheck_SQ": "safety_ethics",
    # The same tasks under the names OpenCompass's MedBench configs use.
    "Health_exam": "knowledge_qa",
    "Health_Counseling": "knowledge_qa",
    "Medicine_Counseling": "knowledge_qa",
    "Triage": "knowledge_qa",
    "DDx-advanced_pre": "complex_reasoning",
    "DDx-advanced_final": "complex_reasoning",
    "Doc_parsing": "complex_reasoning",
    "SafetyBench": "safety_ethics",
    "Medicine_attack": "safety_ethics",
    "EMR": "language_generation",
    "MRG": "language_generation",
}

# Tasks whose every item is a choice question: a row of theirs with no options is an error, not an
# open item (the options were lost).
CHOICE_SOURCES = frozenset({
    "Med-Exam", "MedExam", "CMExam", "DDx-basic", "DDx-advanced", "MedSafety", "MedRxCheck_SCQ",
    "MedRxCheck_MSQ", "Health_exam", "SafetyBench",
})

# Tasks whose items are consultations and cases answered in free text (in OpenCompass's MedBench QA
# sets, and their V4 kin): options, if any, come from the `options` field only.
OPEN_SOURCES = frozenset({
    "MedHC", "MedMC", "MedDG", "MedTreat", "CMB-Clin", "CMB-Clin-extended", "MedRxCheck_SQ",
    "Health_Counseling", "Medicine_Counseling",
})

_QUESTION_HEADING = re.compile(r"^#{1,6}[ \t]*问题[ \t]*[:：]?[ \t]*$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,6}[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
_OPTIONS_HEADINGS = ("选项", "选择")
# A release or split word that file names and V4 sources append to a task name.
_NAME_SUFFIX = re.compile(r"(?:v\d+|test|dev|val|public)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


_BY_NORMALISED = {_normalise(name): dimension for name, dimension in SOURCE_DIMENSIONS.items()}
_CHOICE_NORMALISED = {_normalise(name) for name in CHOICE_SOURCES}
_OPEN_NORMALISED = {_normalise(name) for name in OPEN_SOURCES}


@functools.lru_cache(maxsize=1024)  # a file repeats its few task names on every line
def canonical_source(source: str) -> str | None:
    """The table's spelling of a task name (`medexam_v4` -> `medexam`, normalised), or None."""
    key = _normalise(source)
    while key:
        if key in _BY_NORMALISED:
            return key
        stripped = _NAME_SUFFIX.sub("", key)
        if stripped == key:
            return None
        key = stripped
    return None


def dimension_for(source: str) -> Dimension | None:
    key = canonical_source(source)
    return None if key is None else _BY_NORMALISED[key]


def is_choice_source(source: str) -> bool:
    return canonical_source(source) in _CHOICE_NORMALISED


def split_instruction(question: str) -> tuple[str | None, str, str | None]:
    """(preamble, body, trailing sections) of a question written in the `## 问题` layout.

    Without the heading the whole text is the body. An `## 选项` heading inside the body only
    introduces the options; any other later heading (e.g. `## 答案格式`) ends the body.
    """
    headings = list(_QUESTION_HEADING.finditer(question)) if "#" in question else []
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


# "答:", "答案：", "Answer:" alone on the last line: the prompt for the model's answer.
_ANSWER_PROMPT = re.compile(r"^[ \t]*(?:答案?|Answer)[ \t]*[:：]?[ \t]*\Z", re.IGNORECASE | re.MULTILINE)
# A worked example's answer line inside a few-shot preamble: "答: B", "答案：A", "答:".
_EXAMPLE_ANSWER = re.compile(r"^[ \t]*答案?[ \t]*[:：].*$", re.MULTILINE)
_ANSWER_LETTERS_LINE = re.compile(r"\s*[A-H]+[ \t]*(?=\n|$)")
_STEM_LABEL_LINE = re.compile(r"^[ \t]*(?:问题|题目)[ \t]*[:：]", re.MULTILINE)
# "问题：", "题目:" before the stem.
_STEM_LABEL = re.compile(r"^\s*(?:问题|题目|Question)[ \t]*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class QuestionParts:
    """A MedBench `question` taken apart. The loader and replay both read questions through
    `read_question`, so a data line and a prediction line of one item agree on stem and options."""

    stem: str
    options: dict[str, str]
    preamble: str | None = None  # instructions and few-shot examples before the stem
    suffix: str | None = None  # trailing sections (`## 答案格式`, a final "答:")
    # Whether the stem is the one the text alone gives, so that `key` is the question's
    # `matching_key`: options were looked for in the text and any given ones agree with them.
    text_alone: bool = False

    @property
    def key(self) -> str:
        return question_key(self.stem)


def read_question(question: str, given: dict[str, str], *, text_options: bool = True) -> QuestionParts:
    """Stem, options, preamble and suffix of a question.

    Options: as given, else read from the end of the text — one per line ("A. …"), or on one line
    with or without spaces ("A、希波克拉底B、盖伦C、…"); `text_options=False` reads none from the text.
    A few-shot preamble (examples, each ending in an answer line "答: B") is cut off the stem, so
    the copies of an item behind different examples have the same stem.
    """
    preamble, body, suffix = split_instruction(question)
    prompt = _ANSWER_PROMPT.search(body)
    if prompt and body[: prompt.start()].strip():
        suffix = "\n".join(part for part in (prompt.group().strip(), suffix) if part)
        body = body[: prompt.start()].rstrip()
    examples, body = _split_examples(body) if text_options else (None, body)
    stem, options, text_alone = stem_and_options(body, given, text_options=text_options)
    stem = _STEM_LABEL.sub("", stem, count=1).strip() or stem
    preamble = "\n".join(part for part in (preamble, examples) if part) or None
    return QuestionParts(stem=stem, options=options, preamble=preamble, suffix=suffix, text_alone=text_alone)


def _split_examples(body: str) -> tuple[str | None, str]:
    """(worked examples, the rest) of a body where choice questions with their answers ("答: B")
    precede the question; (None, body) when the text before the last answer line is not a choice
    question (a dialogue's "答：" lines stay in the stem)."""
    matches = list(_EXAMPLE_ANSWER.finditer(body)) if "答" in body else []
    last = matches[-1] if matches else None
    if last is None or not body[last.end() :].strip():
        return None, body
    examples = body[: last.start()]
    if option_block(examples.splitlines()) is None and inline_options(examples) is None:
        return None, body
    end = last.end()
    letters = _ANSWER_LETTERS_LINE.match(body, end)  # "答:\nB": the example's answer on its own line
    if letters and body[letters.end() :].strip():
        end = letters.end()
    labels = list(_STEM_LABEL_LINE.finditer(body, end))  # "答案：B。解析：…\n…\n问题：<stem>"
    start = labels[-1].start() if labels else end
    return body[:start].strip(), body[start:].strip()


def stem_and_options(
    body: str, given: dict[str, str], *, text_options: bool = True
) -> tuple[str, dict[str, str], bool]:
    """The stem, the options, and whether the stem is the one the body alone gives (with no given
    options). Options: as given, or parsed from the end of the body when none are given. Given
    options that the body also spells out are removed from the stem (no doubled options); when the
    body spells other options, it stays whole."""
    if not text_options:
        return body, given, False
    lines = body.splitlines()
    block = option_block(lines)
    if block is not None:
        start, parsed = block
        stem = "\n".join(lines[:start]).strip()
    else:
        run = inline_options(body)
        if run is None:
            return body, given, True
        stem, parsed = body[: run[0]].strip(), run[1]
    if given and [option_key(t) for t in parsed.values()] != [option_key(t) for t in given.values()]:
        return body, given, False
    if not stem:
        raise DatasetError("question has options but no stem", field="question")
    return stem, given or parsed, True


def matching_key(question: str) -> str:
    """The key a data line and a prediction line of one item share, whatever either side's
    `options` field or task: the stem as read from the text alone, a trailing option block (if
    any) cut off, normalised by `question_key`."""
    try:
        return read_question(question, {}).key
    except DatasetError:  # options and no stem
        return question_key(question)


def question_key(text: str) -> str:
    """What two spellings of one question share: no whitespace, no "问题：" label, no trailing
    blank "（ ）" or final punctuation."""
    text = _STEM_LABEL.sub("", text, count=1)
    text = "".join(text.split())
    return _BLANKS.sub("", text.rstrip("。.？?：:"))


# Answer blanks "（ ）", once the spaces are gone. The first is written outside the group so that
# `re` can skip ahead to a bracket (a third of the time "(?:…)+" takes).
_BLANKS = re.compile(r"[（(][)）](?:[（(][)）])*")


def option_key(text: str) -> str:
    """An option's text as copies of an item compare it: no whitespace or final full stop."""
    return "".join(text.split()).rstrip("。.；;")


def _gold(answer: Any, options: dict[str, str]) -> Gold | None:
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        return None
    if options:
        return Gold(letters=gold_letters(answer, options))
    if isinstance(answer, str):
        return Gold(text=answer.strip())
    return Gold(structure=answer)


_LETTERS_ONLY = re.compile(r"[A-H](?:[\s,，、;；]*[A-H])*")
# Words of a question that asks to choose among options.
_CHOICE_WORDS = re.compile(r"选择题|单选|多选|不定项|选项|下列|以下哪|哪一?项|哪几项|正确的是|错误的是")


def _check_choice_has_options(source: str, question: str, answer: Any, options: dict[str, str]) -> None:
    """A choice row that lost its options must not load as an open item whose gold is a letter: a
    row of a choice task, or one whose answer is letters and whose question asks to choose (a
    blood-type answer "A" to an open question is not one)."""
    if options:
        return
    if is_choice_source(source):
        raise DatasetError(
            f"{source} is a choice task but this row has no options (none given, none found in the question)",
            field="options",
        )
    if isinstance(answer, str) and _LETTERS_ONLY.fullmatch(answer.strip()) and _CHOICE_WORDS.search(question):
        raise DatasetError(
            f"answer {answer.strip()!r} names option letters but the row has no options "
            "(none given, none found in the question)",
            field="options",
        )


def _other(record: dict[str, Any]) -> dict[str, Any]:
    other = record.get("other")
    if other is None:
        return {}
    if not isinstance(other, dict):
        raise DatasetError(f"expected an object, found {type(other).__name__}", field="other")
    return other


def source_of(record: dict[str, Any], path: Path) -> tuple[str, bool]:
    """The record's task name, and whether it came from `other.source` (else the file name)."""
    source = _other(record).get("source")
    return (str(source), True) if source else (path.stem, False)


def unknown_source_error(source: str, from_other: bool, lines: list[int] | None = None) -> DatasetError:
    what = "MedBench source" if from_other else "MedBench file name (no other.source)"
    count = f" on {len(lines)} lines" if lines and len(lines) > 1 else ""
    return DatasetError(
        f"unknown {what} {source!r}{count}: pass --dimension ({' | '.join(DIMENSIONS)})",
        line=lines[0] if lines else None,
        field="other.source" if from_other else None,
    )


def _order_in(original: dict[str, str], repeat: dict[str, str]) -> list[str] | None:
    """The repeat's options as original letters, or None when they are not the same options."""
    unused = list(original)
    order = []
    for text in repeat.values():
        match = next((letter for letter in unused if option_key(original[letter]) == option_key(text)), None)
        if match is None:
            return None
        unused.remove(match)
        order.append(match)
    return order if not unused else None


def _is_copy(first: Sample, repeat: Sample) -> bool:
    """The same stem and the same option set (in any order): a shuffled copy of one item."""
    return (
        first.is_choice
        and repeat.is_choice
        and first.metadata["question_key"] == repeat.metadata["question_key"]
        and _order_in(first.options, repeat.options) is not None
    )


def _merge_copy(first: Sample, repeat: Sample, line: int) -> None:
    """Fold a shuffled copy of `first` into it as one more given order."""
    order = _order_in(first.options, repeat.options)
    assert order is not None
    first_line = first.metadata["line"]
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


@functools.lru_cache(maxsize=1024)  # asked for every line, like `canonical_source`
def text_has_options(source: str) -> bool:
    """Whether options may be read from the question text: not for open tasks, whose cases and
    sub-questions may be lettered ("A. 诊断\nB. 治疗"), nor for extraction and record tasks, whose
    instructions list types and sections."""
    key = source_key(source)
    return (
        key not in SOURCE_TYPES
        and key not in medbench_ie.RECORD_SOURCES
        and canonical_source(source) not in _OPEN_NORMALISED
    )


def parse_record(record: dict[str, Any], *, path: Path, line: int, dimension: Dimension | None) -> Sample:
    other = _other(record)
    source_name, from_other = source_of(record, path)
    task = f"medbench-{source_name}"
    dim = dimension or dimension_for(source_name)
    if dim is None:
        raise unknown_source_error(source_name, from_other)
    question = required_text(record, "question")
    parts = read_question(question, parse_options(record.get("options")), text_options=text_has_options(source_name))
    _check_choice_has_options(source_name, parts.stem, record.get("answer"), parts.options)
    gold = _gold(record.get("answer"), parts.options)
    item_id = other.get("id")
    key = parts.key if parts.text_alone else matching_key(question)
    metadata: dict[str, Any] = {"original": record, "line": line, "other": other, "question_key": key}
    if parts.preamble:
        metadata["instruction"] = parts.preamble
    if parts.suffix:
        metadata["instruction_suffix"] = parts.suffix
    sample = Sample(
        id=f"{task}/{item_id if item_id is not None else f'L{line}'}",
        source=Source(dataset=DATASET, attribution=ATTRIBUTION, license=LICENSE, path=str(path), line=line),
        task=task,
        dimension=dim,
        kind=choice_kind(parts.options, gold, f"{parts.preamble or ''}\n{parts.stem}"),
        question=parts.stem,
        options=parts.options,
        gold=gold,
        metadata=metadata,
    )
    return medbench_ie.adapt(sample)  # extraction and record sources become their own kinds


class _Items:
    """Samples of one file in line order. A line whose item is already there (same `other.id`, or
    no id and the same stem and option set) is a shuffled copy: one more given order of that item.
    Any other line that repeats an id (an open question asked twice, or a different question under
    a reused id) becomes an item of its own, `<id>~2`, `<id>~3`, …, keeping its `other.id` for replay."""

    def __init__(self) -> None:
        self.samples: dict[str, Sample] = {}
        self.by_content: dict[tuple, str] = {}

    def add(self, sample: Sample, line: int) -> None:
        has_id = sample.metadata["other"].get("id") is not None
        content = (sample.task, sample.metadata["question_key"], frozenset(map(option_key, sample.options.values())))
        first_id = sample.id if has_id else (self.by_content.get(content) if sample.is_choice else None)
        first = self.samples.get(first_id) if first_id else None
        if first is not None and _is_copy(first, sample):
            _merge_copy(first, sample, line)
            return
        if sample.id in self.samples:
            other_id = sample.metadata["other"].get("id")
            same = [s for s in self.samples.values()
                    if s.metadata["other"].get("id") == other_id and s.task == sample.task]
            twins = [s for s in same if s.metadata["question_key"] == sample.metadata["question_key"]]
            for rank, twin in enumerate(twins):  # replay tells identical questions apart by it
                twin.metadata["copy"] = rank
            sample.metadata["copy"] = len(twins)
            sample.id = f"{sample.id}~{len(same) + 1}"
        self.samples[sample.id] = sample
        if sample.is_choice:
            self.by_content.setdefault(content, sample.id)


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> list[Sample]:
    """Samples of a MedBench JSONL file; `dimension` overrides the source table for every item.

    An unknown task name is one error for the file (naming it, its first line and how many lines
    it has), not one per line."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path)
    bad = BadRows(path, skip_bad, on_skip)
    items = _Items()
    unknown: dict[tuple[str, bool], list[int]] = {}
    for line, raw in numbered_lines(path):
        with bad.row(line):
            record = json_object(raw)
            source, from_other = source_of(record, path)
            if dimension is None and dimension_for(source) is None:
                if not skip_bad:
                    raise unknown_source_error(source, from_other)
                unknown.setdefault((source, from_other), []).append(line)
                continue
            items.add(parse_record(record, path=path, line=line, dimension=dimension), line)
    for (source, from_other), lines in unknown.items():
        bad.report(unknown_source_error(source, from_other, lines).at(path=path))
    return list(items.samples.values())


def submission_record(sample: Sample, permutation: int, answer: str | None) -> dict[str, Any] | None:
    """MedBench's submission format: the record of the data line that asked `permutation` of
    `sample`, as read, with `answer` set; None for samples not read from a MedBench file."""
    occurrences = sample.metadata.get("occurrences")  # one per given option order, in order
    originals = [o["original"] for o in occurrences] if occurrences else [sample.metadata.get("original")]
    original = originals[permutation] if permutation < len(originals) else None
    if not isinstance(original, dict):
        return None
    return {**original, "answer": answer}


def submission_line(sample: Sample, permutation: int) -> int:
    """The data line of `permutation` of `sample` (0 when unknown), to write submissions in file order."""
    occurrences = sample.metadata.get("occurrences")
    if occurrences and permutation < len(occurrences):
        return int(occurrences[permutation]["line"])
    return int(sample.metadata.get("line") or 0)
