"""Data files -> `Sample`s. One loader per source format, a format guess from the content, and
`load_file` for a file or a directory of them. Suites (named sets of files) are in `suites`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medgap.datasets import cmb_clin, cmmlu, generic, medbench, mtcmb
from medgap.datasets.errors import DatasetError
from medgap.datasets.generic import FieldMap
from medgap.datasets.parsing import OnSkip, first_char, first_line, json_array, json_object, numbered_lines
from medgap.records import Sample

__all__ = [
    "FORMATS",
    "DatasetError",
    "FieldMap",
    "Format",
    "data_files",
    "detect_format",
    "ensure_unique_ids",
    "load_file",
]

DATA_SUFFIXES = (".jsonl", ".json", ".csv")
# Sub-folders holding few-shot exemplars, not test items (CMMLU and C-Eval ship `dev/` beside `test/`).
EXEMPLAR_DIRS = ("dev",)


@dataclass(frozen=True)
class Format:
    name: str
    load: Callable[..., list[Sample]]
    description: str


FORMATS: dict[str, Format] = {
    "medbench": Format(
        "medbench",
        medbench.load,
        "MedBench JSONL, old release and V4 (question/options/answer/other); shuffled copies are one item",
    ),
    "cmmlu": Format("cmmlu", cmmlu.load, "CMMLU CSV, one subject per file (,Question,A,B,C,D,Answer)"),
    "cmb_clin": Format("cmb_clin", cmb_clin.load, "CMB-Clin JSON array of cases with QA_pairs (open items)"),
    "mtcmb": Format("mtcmb", mtcmb.load, "MTCMB JSONL (TCM-ED/SE/FT): choice, fill-in and key-point items"),
    "generic": Format("generic", generic.load, "your own JSONL/JSON/CSV through a field mapping"),
}


def detect_format(path: Path) -> str:
    """The format of a data file, told from its content: a JSON array of cases with `QA_pairs` is
    CMB-Clin; JSONL with `other` is MedBench, with `points` or an `id`/`question`/`source` record is
    MTCMB; a CSV with `Question`…`Answer` columns is CMMLU; anything else readable is `generic`.

    JSONL is told by its first line that is a JSON object, so a broken first line (or a merge-conflict
    marker) does not make a JSONL file look like CSV; a file where none of the first lines is one is
    an error naming the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            "no such file" if not path.exists() else "expected a file, found a directory", path=path
        )
    first = first_char(path)
    if first == "[":
        for _, _, case in json_array(path):
            return "cmb_clin" if isinstance(case, dict) and "QA_pairs" in case else "generic"
        raise DatasetError("empty JSON array", path=path)
    if not first:
        raise DatasetError("empty file", path=path)
    if first == "{" or path.suffix.lower() == ".jsonl" or _has_object_lines(path):
        record = _first_object(path)
        if "other" in record:
            return "medbench"
        if "points" in record or (
            {"id", "question", "source"} <= record.keys() and isinstance(record["source"], str)
        ):
            return "mtcmb"
        return "generic"
    header = first_line(path).strip().split(",")
    if {"Question", "A", "B", "Answer"} <= set(header):
        return "cmmlu"
    return "generic"


_SNIFF_LINES = 50


def _has_object_lines(path: Path) -> bool:
    """Whether one of the first lines starts like a JSON object (a JSONL file with a bad first line)."""
    for index, (_, raw) in enumerate(numbered_lines(path)):
        if index >= _SNIFF_LINES:
            break
        if raw.lstrip().startswith(b"{"):
            return True
    return False


def _first_object(path: Path) -> dict:
    """The first of a JSONL file's first lines that is a JSON object."""
    first_error: DatasetError | None = None
    for index, (line, raw) in enumerate(numbered_lines(path)):
        if index >= _SNIFF_LINES:
            break
        try:
            return json_object(raw)
        except DatasetError as exc:
            first_error = first_error or exc.at(path=path, line=line)
    assert first_error is not None
    raise DatasetError(
        f"cannot tell the format: none of the first {_SNIFF_LINES} lines is a JSON object "
        f"(this one: {first_error.message})",
        path=path,
        line=first_error.line,
    )


def data_files(directory: Path) -> list[Path]:
    """Data files under `directory`, sorted, skipping hidden entries and few-shot `dev/` folders."""
    found = []
    for path in sorted(Path(directory).rglob("*")):
        parts = path.relative_to(directory).parts
        if any(part.startswith(".") for part in parts) or any(part in EXEMPLAR_DIRS for part in parts[:-1]):
            continue
        if path.is_file() and path.suffix.lower() in DATA_SUFFIXES:
            found.append(path)
    return found


def ensure_unique_ids(samples: list[Sample]) -> None:
    first: dict[str, Sample] = {}
    for sample in samples:
        if sample.id in first:
            other = first[sample.id].source
            raise DatasetError(
                f"sample id {sample.id!r} also comes from {other.path}:{other.line} (load each file once, "
                "or give one of them another task name)",
                path=sample.source.path,
                line=sample.source.line,
            )
        first[sample.id] = sample


def load_file(
    path: str | Path,
    format: str | None = None,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    fields: FieldMap | None = None,
) -> list[Sample]:
    """Samples of one data file, or of every data file under a directory (each in its own detected
    format unless `format` is given). `fields` maps a user's columns (generic format)."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise DatasetError(f"unknown format {format!r} (one of {', '.join(FORMATS)})", path=path)
    if path.is_dir():
        files = data_files(path)
        if not files:
            raise DatasetError(f"no data files ({', '.join(DATA_SUFFIXES)}) in this directory", path=path)
        samples = [
            sample
            for file in files
            for sample in load_file(file, format, dimension, skip_bad, on_skip, fields)
        ]
        ensure_unique_ids(samples)
        return samples
    if not path.exists():
        raise DatasetError("no such file or directory", path=path)
    name = format or ("generic" if fields is not None else detect_format(path))
    if name == "generic":
        return generic.load(path, dimension=dimension, skip_bad=skip_bad, on_skip=on_skip, fields=fields)
    return FORMATS[name].load(path, dimension=dimension, skip_bad=skip_bad, on_skip=on_skip)
