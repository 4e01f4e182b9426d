"""CMMLU CSV: one file per subject, header `,Question,A,B,C,D,Answer`; the unnamed first column
is the source row index (kept as the item id, so ids survive subsetting). Single-choice only."""

from __future__ import annotations

from pathlib import Path

from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    UniqueIds,
    check_cells,
    check_option_letters,
    csv_rows,
    gold_letters,
    required_text,
    resolve_dimension,
)
from medgap.records import Dimension, Gold, Sample, Source

DATASET = "CMMLU"
ATTRIBUTION = "CMMLU: Measuring massive multitask language understanding in Chinese (Li et al., 2023), https://github.com/haonan-li/CMMLU"
LICENSE = "CC BY-NC-SA 4.0"
DIMENSION: Dimension = "knowledge_qa"


def parse_row(row: dict[str, str], *, path: Path, line: int, subject: str, dimension: Dimension) -> Sample:
    check_cells(row)
    options = {letter: required_text(row, letter).strip() for letter in row if _is_option_column(letter)}
    task = f"cmmlu-{subject}"
    row_index = row.get("", "").strip() or f"L{line}"
    return Sample(
        id=f"{task}/{row_index}",
        source=Source(dataset=DATASET, attribution=ATTRIBUTION, license=LICENSE, path=str(path), line=line),
        task=task,
        dimension=dimension,
        kind="single",
        question=required_text(row, "Question").strip(),
        options=options,
        gold=Gold(letters=_single_letter(row, options)),
        metadata={"subject": subject, "row_index": row_index, "line": line},
    )


def _is_option_column(name: str) -> bool:
    return len(name) == 1 and name.isupper()


def check_header(header: list[str], path: Path) -> None:
    missing = [name for name in ("Question", "Answer") if name not in header]
    if missing:
        raise DatasetError(
            f"header lacks {', '.join(missing)} (expected ',Question,A,B,C,D,Answer')",
            path=path,
            line=1,
            field="header",
        )
    try:
        check_option_letters([name for name in header if _is_option_column(name)], field="header")
    except DatasetError as exc:
        raise exc.at(path=path, line=1) from None


def _single_letter(row: dict[str, str], options: dict[str, str]) -> list[str]:
    letters = gold_letters(required_text(row, "Answer"), options, field="Answer")
    if len(letters) != 1:
        raise DatasetError(f"CMMLU is single-choice, found {''.join(letters)!r}", field="Answer")
    return letters


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> list[Sample]:
    """Samples of one CMMLU subject file (subject = file stem, task `cmmlu-<subject>`)."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path) or DIMENSION
    bad = BadRows(path, skip_bad, on_skip)
    ids = UniqueIds()
    samples = []
    header, rows = csv_rows(path)
    check_header(header, path)
    for line, row in rows:
        with bad.row(line):
            sample = parse_row(row, path=path, line=line, subject=path.stem, dimension=dimension)
            ids.claim(sample.id, line, field="(row index)")
            samples.append(sample)
    return samples
