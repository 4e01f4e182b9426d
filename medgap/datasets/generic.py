"""Users' own data: JSONL, a JSON array or CSV, read through a `FieldMap` that says which field holds
what. The defaults fit a file with `id`, `question`, `options`, `answer` (and optional `context`,
`kind`, `dimension`, `task`, `key_points`) fields; a CSV with single-letter columns `A`, `B`, …
uses them as options.

Kind, when no `kind` field says otherwise: options -> single or multi by the number of gold
letters; no options -> open. A missing or empty answer makes the item ungraded (`gold=None`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from medgap.datasets.errors import DatasetError
from medgap.datasets.parsing import (
    BadRows,
    OnSkip,
    UniqueIds,
    bullet_points,
    check_cells,
    check_exists,
    check_option_letters,
    choice_kind,
    csv_rows,
    first_char,
    gold_letters,
    json_array,
    json_object,
    numbered_lines,
    parse_options,
    required_text,
    resolve_dimension,
)
from medgap.kinds import kind_names, spec_for
from medgap.records import CHOICE_KINDS, DIMENSIONS, Dimension, Gold, Kind, Sample, Source


class FieldMap(BaseModel):
    """Field (JSON key or CSV column) names; None = the data has no such field."""

    # schema built on first use (1 ms a model): only generic-format files and suites use it
    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str | None = "id"
    question: str = "question"
    options: str | None = "options"  # one field holding a dict, a list of "A. x" or "A. x B. y" text
    option_columns: list[str] | None = None  # or one column per option, lettered A, B, … in this order
    answer: str | None = "answer"  # letters for choice items, text otherwise
    context: str | None = "context"
    kind: str | None = "kind"
    dimension: str | None = "dimension"
    task: str | None = "task"
    key_points: str | None = "key_points"  # bullet text or a list of strings


def _present(record: dict[str, Any], key: str | None) -> Any:
    """The value of `key`, or None when the field is unmapped, absent or blank."""
    if key is None:
        return None
    value = record.get(key)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _column_options(record: dict[str, Any], columns: list[str]) -> dict[str, str]:
    """Options from one column per option; trailing empty columns mean fewer options."""
    cells = [record.get(column) for column in columns]
    while cells and (cells[-1] is None or not str(cells[-1]).strip()):
        cells.pop()
    options = {}
    for index, (column, cell) in enumerate(zip(columns, cells, strict=False)):
        if cell is None or not str(cell).strip():
            raise DatasetError("empty option between filled ones", field=column)
        options[chr(ord("A") + index)] = str(cell).strip()
    if options:
        check_option_letters(list(options), field=columns[0])
    return options


def _options(record: dict[str, Any], fields: FieldMap) -> dict[str, str]:
    if fields.option_columns:
        return _column_options(record, fields.option_columns)
    if fields.options is None:
        return {}
    return parse_options(_present(record, fields.options), field=fields.options)


def _kind(
    record: dict[str, Any], fields: FieldMap, options: dict[str, str], gold: Gold | None, question: str
) -> Kind:
    stated = _present(record, fields.kind)
    if stated is not None:
        kind = str(stated).strip()
        if kind not in kind_names():
            raise DatasetError(f"unknown kind {kind!r} (one of {', '.join(kind_names())})", field=fields.kind)
        if (kind in CHOICE_KINDS) != bool(options):
            need = "needs options" if kind in CHOICE_KINDS else "must not have options"
            raise DatasetError(f"a {kind} item {need}", field=fields.kind)
        return kind
    return choice_kind(options, gold, question)


def _checked_kind(kind: str, gold: Gold | None, fields: FieldMap) -> str:
    """The kind, once its declaration accepts the gold (a bad answer names its field)."""
    check = spec_for(kind).check_gold
    if gold is not None and check is not None:
        try:
            check(gold)
        except ValueError as exc:
            raise DatasetError(str(exc), field=fields.answer or "answer") from None
    return kind


def _gold(record: dict[str, Any], fields: FieldMap, options: dict[str, str]) -> Gold | None:
    answer = _present(record, fields.answer)
    points_value = _present(record, fields.key_points)
    points = bullet_points(points_value, field=fields.key_points or "key_points") if points_value else []
    if answer is None and not points:
        return None
    if options:
        if answer is None:
            raise DatasetError(
                "a choice item needs option letters as its answer", field=fields.answer or "answer"
            )
        return Gold(letters=gold_letters(answer, options, field=fields.answer or "answer"))
    if answer is None or isinstance(answer, str):
        return Gold(text=answer.strip() if answer else None, key_points=points)
    if isinstance(answer, (int, float)):
        return Gold(text=str(answer), key_points=points)
    return Gold(structure=answer, key_points=points)


def _dimension(record: dict[str, Any], fields: FieldMap, override: Dimension | None) -> Dimension:
    if override is not None:
        return override
    stated = _present(record, fields.dimension)
    if stated is None:
        raise DatasetError(
            f"no dimension for this item: pass --dimension ({' | '.join(DIMENSIONS)})", field=fields.dimension
        )
    if stated not in DIMENSIONS:
        raise DatasetError(
            f"unknown dimension {stated!r} (one of {', '.join(DIMENSIONS)})", field=fields.dimension
        )
    return stated


def parse_record(
    record: dict[str, Any], fields: FieldMap, *, path: Path, line: int, dimension: Dimension | None, task: str
) -> Sample:
    question = required_text(record, fields.question).strip()
    options = _options(record, fields)
    gold = _gold(record, fields, options)
    task = str(_present(record, fields.task) or task)
    item_id = _present(record, fields.id)
    context = _present(record, fields.context)
    return Sample(
        id=f"{task}/{str(item_id).strip() if item_id is not None else f'L{line}'}",
        source=Source(dataset=task, path=str(path), line=line),
        task=task,
        dimension=_dimension(record, fields, dimension),
        kind=_checked_kind(_kind(record, fields, options, gold, question), gold, fields),
        question=question,
        context=str(context).strip() if context is not None else None,
        options=options,
        gold=gold,
        metadata={"original": record, "line": line},
    )


def records(path: Path, fields: FieldMap) -> Iterator[tuple[int, Any]]:
    """(line, record) pairs of a JSONL, JSON-array or CSV file; a JSONL record is still raw bytes
    (parsed inside the row's guard so that one bad line can be skipped)."""
    check_exists(path)
    first = first_char(path)
    if first == "{":
        yield from numbered_lines(path)
    elif first == "[":
        for _, line, value in json_array(path):
            yield line, value
    else:
        header, rows = csv_rows(path)
        if fields.question not in header:
            raise DatasetError(
                f"no column {fields.question!r} in the header", path=path, line=1, field="header"
            )
        yield from rows


def _csv_fields(path: Path, fields: FieldMap) -> FieldMap:
    """A CSV with single-letter columns and no options column reads its options from those columns."""
    check_exists(path)
    if first_char(path) in "{[" or fields.option_columns:
        return fields
    header, _ = csv_rows(path)
    if fields.options in header:
        return fields
    letters = [name for name in header if len(name) == 1 and "A" <= name <= "Z"]
    return fields.model_copy(update={"option_columns": letters or None})


def _as_record(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return json_object(value)
    if isinstance(value, dict):
        check_cells(value)
        return value
    raise DatasetError(f"expected an object, found {type(value).__name__}")


def load(
    path: Path,
    *,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    fields: FieldMap | None = None,
    task: str | None = None,
) -> list[Sample]:
    """Samples of a user's file. `task` defaults to the file stem; `dimension`, when given, is used
    for every item (otherwise each row's dimension field must say it)."""
    path = Path(path)
    dimension = resolve_dimension(dimension, path)
    fields = _csv_fields(path, fields or FieldMap())
    bad = BadRows(path, skip_bad, on_skip)
    ids = UniqueIds()
    samples = []
    for line, value in records(path, fields):
        with bad.row(line):
            record = _as_record(value)
            sample = parse_record(
                record, fields, path=path, line=line, dimension=dimension, task=task or path.stem
            )
            ids.claim(sample.id, line, field=fields.id or "id")
            samples.append(sample)
    return samples
