"""MTCMB (Multi-Task Traditional Chinese Medicine Benchmark) JSONL, one file per task.

The files use three option encodings — a dict (ED-A), a list of "A.text" strings (ED-B), one inline
string "A. x B. y C. z" (SE-B) — and three gold shapes: `answer` letters for choice items, `answer`
text without options for fill-in items (SE-A), and `points` ("- " bullets) for open items (FT).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    UniqueIds,
    bullet_points,
    gold_letters,
    json_object,
    numbered_lines,
    parse_options,
    required_text,
    resolve_dimension,
)
from medgap.records import Dimension, Gold, Kind, Sample, Source

DATASET = "MTCMB"
ATTRIBUTION = (
    "MTCMB: A Multi-Task Benchmark Framework for Evaluating LLMs on Knowledge, Reasoning, and Safety in "
    "Traditional Chinese Medicine, https://github.com/Wayyuanyuan/MTCMB (doi:10.5281/zenodo.20465629)"
)
LICENSE = "CC-BY 4.0"

# Task (file name suffix) -> dimension.
TASK_DIMENSIONS: dict[str, Dimension] = {
    "ED-A": "knowledge_qa",  # attending-physician exam bank
    "ED-B": "knowledge_qa",  # licensing mock exams
    "SE-A": "safety_ethics",  # toxic herbs, dosage limits, contraindications (fill-in)
    "SE-B": "safety_ethics",  # the same safety topics as single-choice
    # FT asks for essays that explain TCM pathogenesis and treatment principles step by step and is
    # graded on the reasoning points covered, so it measures reasoning rather than recall.
    "FT": "complex_reasoning",
}

_TASK_SUFFIX = re.compile(r"(?:^|[-_])(ED-[AB]|SE-[AB]|FT)$", re.IGNORECASE)
_ITEM_NUMBER = re.compile(r"^\s*\d{1,4}\s*[.．、]\s*(?!\d)")  # ED-B keeps the exam's "64." prefix


def task_dimension(stem: str) -> Dimension | None:
    match = _TASK_SUFFIX.search(stem)
    return TASK_DIMENSIONS[match.group(1).upper()] if match else None


def _clean(text: str) -> str:
    # Exam-bank items carry HTML entities ("P&#39;波" for P′ wave).
    return html.unescape(text).strip()


def _gold_and_kind(record: dict[str, Any], options: dict[str, str]) -> tuple[Gold, Kind]:
    if record.get("points") is not None:
        points = [_clean(point) for point in bullet_points(record["points"], field="points")]
        return Gold(text="\n".join(points), key_points=points), "open"
    answer = required_text(record, "answer")
    if options:
        letters = gold_letters(answer, options)
        return Gold(letters=letters), "multi" if len(letters) > 1 else "single"
    return Gold(text=_clean(answer)), "fill"


def parse_record(record: dict[str, Any], *, path: Path, line: int, dimension: Dimension) -> Sample:
    task = f"mtcmb-{path.stem}"
    item_id = required_text(record, "id").strip()
    options = {letter: _clean(text) for letter, text in parse_options(record.get("options")).items()}
    gold, kind = _gold_and_kind(record, options)
    question = _clean(required_text(record, "question"))
    return Sample(
        id=f"{task}/{item_id}",
        source=Source(dataset=DATASET, attribution=ATTRIBUTION, license=LICENSE, path=str(path), line=line),
        task=task,
        dimension=dimension,
        kind=kind,
        question=_ITEM_NUMBER.sub("", question) or question,
        options=options,
        gold=gold,
        metadata={"original": record, "line": line, "reference": record.get("source")},
    )


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> list[Sample]:
    """Samples of one MTCMB file (task `mtcmb-<file stem>`, e.g. `mtcmb-TCM-ED-A`); the dimension
    comes from the file name (ED/SE/FT) unless `dimension` is given."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path) or task_dimension(path.stem)
    if dimension is None:
        raise DatasetError(
            f"cannot tell the MTCMB task from the file name {path.name!r} (expected …ED-A, ED-B, SE-A, "
            "SE-B or FT): pass --dimension",
            path=path,
        )
    bad = BadRows(path, skip_bad, on_skip)
    ids = UniqueIds()
    samples = []
    for line, raw in numbered_lines(path):
        with bad.row(line):
            sample = parse_record(json_object(raw), path=path, line=line, dimension=dimension)
            ids.claim(sample.id, line)
            samples.append(sample)
    return samples
