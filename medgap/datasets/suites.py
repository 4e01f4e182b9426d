"""Suites: a named set of data files with a seed and a number of option orders, written as a small
YAML file:

    name: demo
    description: …
    seed: 0
    permutations: 1
    entries:
      - path: demo/cmmlu/test       # relative to the YAML file, else to the package's data folder
        format: cmmlu               # optional; told from the content otherwise
        dimension: knowledge_qa     # optional; overrides the loader's own mapping
        task: my-task               # optional; renames the task (and the id prefix) of its items
        limit_per_task: 10          # optional; items kept per task, drawn with the suite seed
        kinds: [single, multi]      # optional; keep only these kinds

`load_suite` also takes a bundled suite's name or a single data file / directory.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import pydantic
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from medgap.datasets import FORMATS, ensure_unique_ids, load_file
from medgap.datasets.errors import DatasetError
from medgap.datasets.generic import FieldMap
from medgap.datasets.parsing import OnSkip
from medgap.records import Dimension, Kind, Sample, Source

PACKAGE_DATA = Path(__file__).resolve().parent
BUNDLED_SUITES = PACKAGE_DATA / "suites"
SUITE_SUFFIXES = (".yaml", ".yml")


class SuiteEntry(BaseModel):
    # schema built on first use (1 ms a model): only suite files use it, not a run of a data file
    model_config = ConfigDict(extra="forbid", defer_build=True)

    path: str
    format: str | None = None
    dimension: Dimension | None = None
    task: str | None = None
    # items kept per task; `limit` is the older name of the key
    limit_per_task: int | None = Field(default=None, ge=1, validation_alias=AliasChoices("limit_per_task", "limit"))
    kinds: list[Kind] | None = None
    fields: FieldMap | None = None  # column mapping for the generic format
    keypoints: str | None = None  # JSONL of item id -> key points, preferred over derived ones
    license: str | None = None  # credit for data whose format carries none (generic files)
    attribution: str | None = None


class SuiteFile(BaseModel):
    """The YAML file as written."""

    # schema built on first use (1 ms a model): only suite files use it, not a run of a data file
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    description: str = ""
    seed: int = 0
    permutations: int = Field(default=1, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)  # cap on generated tokens for this suite's runs
    entries: list[SuiteEntry] = Field(min_length=1)


class Suite(BaseModel):
    """Samples ready to run, with the seed and option-order count the suite asks for."""

    name: str
    description: str = ""
    seed: int = 0
    permutations: int = 1
    max_tokens: int | None = None
    samples: list[Sample] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)  # messages of rows skipped with skip_bad

    def counts(self) -> dict[str, dict[str, int]]:
        """Items per dimension, then per kind."""
        table: dict[str, Counter] = defaultdict(Counter)
        for sample in self.samples:
            table[sample.dimension][sample.kind] += 1
        return {dimension: dict(kinds) for dimension, kinds in table.items()}

    def sources(self) -> list[Source]:
        """One `Source` per dataset used, for the credit each licence asks for."""
        seen: dict[str, Source] = {}
        for sample in self.samples:
            seen.setdefault(
                sample.source.dataset, sample.source.model_copy(update={"path": None, "line": None})
            )
        return list(seen.values())


def list_suites() -> list[str]:
    """Names of the bundled suites."""
    return sorted(path.stem for path in BUNDLED_SUITES.glob("*.yaml"))


def take_per_task(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most `limit` items per task, in file order, drawn deterministically from the seed.

    Each item's rank is a hash of the seed and its id, so the draw does not depend on the other items:
    a larger limit keeps every item a smaller one chose, and adding rows to a file keeps the old picks
    unless a new row outranks them.
    """
    if limit is None:
        return samples
    by_task: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_task[sample.task].append(sample)
    keep: set[str] = set()
    for items in by_task.values():
        ranked = sorted(items, key=lambda sample: _rank(seed, sample.id))
        keep.update(sample.id for sample in ranked[:limit])
    return [sample for sample in samples if sample.id in keep]


def take_total(samples: list[Sample], limit: int, seed: int) -> list[Sample]:
    """At most `limit` items in all, in file order: each task's first-ranked item (the rank of
    `take_per_task`), then each task's second, and so on, tasks in the order they first appear. So
    every task is represented as far as the limit allows, and a larger limit keeps a smaller one's picks."""
    by_task: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_task[sample.task].append(sample)
    ranked = [sorted(items, key=lambda sample: _rank(seed, sample.id)) for items in by_task.values()]
    deepest = max(map(len, ranked), default=0)
    order = [items[depth] for depth in range(deepest) for items in ranked if depth < len(items)]
    keep = {sample.id for sample in order[:limit]}
    return [sample for sample in samples if sample.id in keep]


def _rank(seed: int, sample_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()


class _Skips:
    """Collects the messages of skipped rows and passes each error on."""

    def __init__(self, forward: OnSkip | None) -> None:
        self.messages: list[str] = []
        self.forward = forward

    def __call__(self, error: DatasetError) -> None:
        self.messages.append(str(error))
        if self.forward is not None:
            self.forward(error)


def _renamed(sample: Sample, task: str) -> Sample:
    local_id = sample.id.split("/", 1)[1] if "/" in sample.id else sample.id
    return sample.model_copy(update={"task": task, "id": f"{task}/{local_id}"})


def _resolve(entry_path: str, suite_dir: Path, suite_file: Path) -> Path:
    candidate = Path(entry_path).expanduser()
    if candidate.is_absolute():
        options = [candidate]
    else:
        options = [suite_dir / candidate, PACKAGE_DATA / candidate]
    for option in options:
        if option.exists():
            return option
    tried = " or ".join(str(option) for option in options)
    raise DatasetError(
        f"entry path {entry_path!r} not found (looked at {tried})", path=suite_file, field="path"
    )


def read_suite_file(path: Path) -> SuiteFile:
    import yaml  # only suite files need it: a run of a data file starts without

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DatasetError(f"invalid YAML: {exc.problem}", path=path, line=line) from None
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read suite: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise DatasetError("a suite file is a mapping with name, seed, permutations and entries", path=path)
    try:
        return SuiteFile.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise DatasetError(first["msg"], path=path, field=field or None) from None


def _entry_samples(
    entry: SuiteEntry,
    suite: SuiteFile,
    path: Path,
    *,
    dimension: str | None,
    format: str | None,
    skip_bad: bool,
    on_skip: OnSkip,
) -> list[Sample]:
    entry_format = entry.format or format
    if entry_format is not None and entry_format not in FORMATS:
        raise DatasetError(
            f"unknown format {entry_format!r} (one of {', '.join(FORMATS)})", path=path, field="format"
        )
    data = _resolve(entry.path, path.parent, path)
    samples = load_file(
        data,
        entry_format,
        entry.dimension or dimension,
        skip_bad=skip_bad,
        on_skip=on_skip,
        fields=entry.fields,
    )
    if entry.kinds is not None:
        samples = [sample for sample in samples if sample.kind in entry.kinds]
    if entry.task is not None:
        samples = [_renamed(sample, entry.task) for sample in samples]
    if entry.keypoints is not None:
        from medgap.scoring.keypoints import apply_overrides

        samples = apply_overrides(samples, _resolve(entry.keypoints, path.parent, path))
    if entry.license or entry.attribution:
        credit = {k: v for k, v in {"license": entry.license, "attribution": entry.attribution}.items() if v}
        samples = [s.model_copy(update={"source": s.source.model_copy(update=credit)}) for s in samples]
    return take_per_task(samples, entry.limit_per_task, suite.seed)


def _from_yaml(
    path: Path,
    *,
    limit_per_task: int | None,
    dimension: str | None,
    format: str | None,
    skip_bad: bool,
    on_skip: OnSkip | None,
) -> Suite:
    spec = read_suite_file(path)
    skips = _Skips(on_skip)
    samples = [
        sample
        for entry in spec.entries
        for sample in _entry_samples(
            entry, spec, path, dimension=dimension, format=format, skip_bad=skip_bad, on_skip=skips
        )
    ]
    ensure_unique_ids(samples)
    return Suite(
        name=spec.name,
        description=spec.description,
        seed=spec.seed,
        permutations=spec.permutations,
        max_tokens=spec.max_tokens,
        samples=take_per_task(samples, limit_per_task, spec.seed),
        skipped=skips.messages,
    )


def load_suite(
    spec: str | Path,
    *,
    limit_per_task: int | None = None,
    limit: int | None = None,
    dimension: str | None = None,
    format: str | None = None,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    seed: int = 0,
) -> Suite:
    """A suite from a bundled name (`demo`), a suite YAML file, or one data file / directory.

    `limit_per_task` caps items per task, then `limit` the items in all, taken from every task in
    turn (both drawn with the suite's seed; `seed` only for a bare data file). `dimension` and
    `format` apply to a data file, and to a YAML entry that does not set its own.
    """
    suite = _load_suite(spec, limit_per_task=limit_per_task, dimension=dimension, format=format,
                        skip_bad=skip_bad, on_skip=on_skip, seed=seed, limit=limit)
    if limit is not None:
        suite.samples = take_total(suite.samples, limit, suite.seed)
    return suite


def _load_suite(spec: str | Path, *, limit_per_task: int | None, limit: int | None, dimension: str | None,
                format: str | None, skip_bad: bool, on_skip: OnSkip | None, seed: int) -> Suite:
    if isinstance(spec, str) and spec in list_suites():
        path = BUNDLED_SUITES / f"{spec}.yaml"
    else:
        path = Path(spec).expanduser()
    for name, value in (("limit", limit), ("limit per task", limit_per_task)):
        if value is not None and value < 1:
            raise DatasetError(f"{name} must be at least 1, got {value}")
    if path.is_file() and path.suffix.lower() in SUITE_SUFFIXES:
        return _from_yaml(
            path, limit_per_task=limit_per_task, dimension=dimension, format=format, skip_bad=skip_bad, on_skip=on_skip
        )
    if not path.exists():
        bundled = ", ".join(list_suites()) or "none"
        raise DatasetError(
            f"no bundled suite, suite file or data file by this name (bundled: {bundled})", path=spec
        )
    skips = _Skips(on_skip)
    samples = load_file(path, format, dimension, skip_bad=skip_bad, on_skip=skips)
    return Suite(
        name=path.name,
        description=str(path),
        seed=seed,
        samples=take_per_task(samples, limit_per_task, seed),
        skipped=skips.messages,
    )
