"""CMB-Clin (from CMB): a JSON array of clinical cases, each with a shared `description` (history,
examination, tests) and 1–4 `QA_pairs` asked about it. Each pair is one `open` item whose context is
the case description and whose gold is the reference answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    UniqueIds,
    json_array,
    required_text,
    resolve_dimension,
)
from medgap.records import Dimension, Gold, Sample, Source

DATASET = "CMB-Clin"
ATTRIBUTION = (
    "CMB: A Comprehensive Medical Benchmark in Chinese (Wang et al., 2023), "
    "https://github.com/FreedomIntelligence/CMB"
)
LICENSE = "Apache-2.0"
DIMENSION: Dimension = "complex_reasoning"
TASK = "cmb-clin"


def _case_fields(case: Any) -> tuple[str, str, list[Any]]:
    if not isinstance(case, dict):
        raise DatasetError(f"expected a case object, found {type(case).__name__}")
    pairs = case.get("QA_pairs")
    if not isinstance(pairs, list) or not pairs:
        raise DatasetError("expected a non-empty list of question/answer pairs", field="QA_pairs")
    return required_text(case, "id"), required_text(case, "description"), pairs


def parse_pair(
    case: dict[str, Any], pair: Any, number: int, *, path: Path, line: int, index: int, dimension: Dimension
) -> Sample:
    field = f"QA_pairs[{number - 1}]"
    if not isinstance(pair, dict):
        raise DatasetError(f"expected an object, found {type(pair).__name__}", field=field)
    case_id = str(case["id"])
    return Sample(
        id=f"{TASK}/{case_id}-{number}",
        source=Source(dataset=DATASET, attribution=ATTRIBUTION, license=LICENSE, path=str(path), line=index),
        task=TASK,
        dimension=dimension,
        kind="open",
        question=required_text(pair, "question", f"{field}.question").strip(),
        context=case["description"].strip(),
        gold=Gold(text=required_text(pair, "answer", f"{field}.answer").strip()),
        metadata={
            "case_id": case_id,
            "title": case.get("title"),
            "turn": number,  # CMB-Clin asks a case's questions in sequence
            "turns": len(case["QA_pairs"]),
            "line": line,
        },
    )


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> list[Sample]:
    """One sample per QA pair; ids `cmb-clin/<case id>-<pair number>`. Errors name the line where
    the case starts and the field path inside it (`QA_pairs[1].answer`)."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path) or DIMENSION
    bad = BadRows(path, skip_bad, on_skip)
    ids = UniqueIds()
    samples = []
    for index, line, case in json_array(path):
        with bad.row(line):
            _, _, pairs = _case_fields(case)
            for number, pair in enumerate(pairs, start=1):
                with bad.row(line):
                    sample = parse_pair(
                        case, pair, number, path=path, line=line, index=index, dimension=dimension
                    )
                    ids.claim(sample.id, line)
                    samples.append(sample)
    return samples
