"""Pieces every loader shares: reading rows with their line numbers, turning the many option encodings
into `{letter: text}`, checking gold letters, and the skip-or-raise policy for bad rows."""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pydantic
import pydantic_core

from medgap.datasets.errors import DatasetError
from medgap.records import DIMENSIONS, Dimension, Gold, Kind

log = logging.getLogger("medgap.datasets")

OnSkip = Callable[[DatasetError], None]

# "A. text", "A: text", "A．text", "A、text", "(A) text", "A）text" — a separator is required so that
# a stem starting with a capital ("ACEI 类药物…") is not read as option A.
_LABEL = r"[(（]?([A-Z])\s*[)）.．:：、]"
OPTION_LINE = re.compile(rf"^\s*{_LABEL}\s*(.*)$", re.DOTALL)
_ANSWER_SEPARATORS = re.compile(r"[\s,，、;；/]+")
_LETTERS = re.compile(r"[A-Z]+")


class BadRows:
    """Where a row fails: raise (default) or, with `skip_bad`, report it and go on.

    Nothing is dropped silently: a skipped row goes to `on_skip`, or to the log when none is given.
    """

    def __init__(self, path: Path, skip_bad: bool, on_skip: OnSkip | None) -> None:
        self.path = path
        self.skip_bad = skip_bad
        self.on_skip = on_skip
        self.skipped: list[DatasetError] = []

    @contextlib.contextmanager
    def row(self, line: int | None, field_prefix: str = "") -> Iterator[None]:
        try:
            yield
        except DatasetError as exc:
            self._handle(exc.at(path=self.path, line=line))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = field_prefix + ".".join(str(part) for part in first["loc"])
            self._handle(DatasetError(first["msg"], path=self.path, line=line, field=field or None))

    def report(self, error: DatasetError) -> None:
        """A bad-input error found outside a row (e.g. once for many rows): raise or skip it."""
        self._handle(error.at(path=self.path))

    def _handle(self, error: DatasetError) -> None:
        if not self.skip_bad:
            raise error
        self.skipped.append(error)
        if self.on_skip is not None:
            self.on_skip(error)
        else:
            self.log(error)

    @staticmethod
    def log(error: DatasetError) -> None:
        log.warning("skipped %s", error)


def check_exists(path: Path) -> None:
    if not path.exists():
        raise DatasetError("no such file or directory", path=path)
    if not path.is_file():
        raise DatasetError("expected a file, found a directory", path=path)


def first_char(path: Path) -> str:
    """The first non-blank character of a text file ('' when there is none)."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for chunk in iter(lambda: handle.read(4096), ""):
            if chunk.strip():
                return chunk.lstrip()[0]
    return ""


def first_line(path: Path) -> str:
    """The first non-blank line of a text file ('' when there is none)."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line
    return ""


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines of a JSONL file with their 1-based numbers (decoding is per row, so one
    bad byte spoils one row, not the file)."""
    check_exists(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, raw


def csv_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows of a CSV file, each row with the line it starts on (quoted fields
    may span lines). A row with the wrong number of cells raises when its turn comes."""
    check_exists(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DatasetError(f"malformed CSV: {exc}", path=path, line=1) from None
    if header is None:
        raise DatasetError("empty file", path=path, line=1)

    def numbered() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DatasetError(f"malformed CSV: {exc}", path=path, line=start) from None
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                message = f"expected {len(header)} cells as in the header, found {len(values)}"
                yield start, {_CELL_COUNT_ERROR: message}
                continue
            yield start, dict(zip(header, values, strict=True))

    return header, numbered()


_CELL_COUNT_ERROR = "\0cells"


def check_cells(row: dict[str, str]) -> None:
    """Raise for a CSV row `csv_rows` found with the wrong number of cells (inside the row's guard,
    so `skip_bad` can skip it)."""
    if _CELL_COUNT_ERROR in row:
        raise DatasetError(row[_CELL_COUNT_ERROR])


def json_array(path: Path) -> Iterator[tuple[int, int, Any]]:
    """(index, 1-based line where the element starts, element) for each element of a JSON array file.

    A syntax error stops the file (there is no telling where the next element starts), naming its line.
    """
    check_exists(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path=path) from None
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise DatasetError("expected a JSON array ('[' first)", path=path, line=lines.at(position))
    position = _skip_space(text, position + 1)
    index = 0
    while not text.startswith("]", position):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        yield index, lines.at(position), value
        index += 1
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            raise DatasetError("invalid JSON: expected ',' or ']'", path=path, line=lines.at(position))


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


class _LineCounter:
    """1-based line of a character offset; offsets must be asked in increasing order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def json_object(raw: bytes | str) -> dict[str, Any]:
    try:  # pydantic-core reads a line in a third of the json module's time; the json module reads the rest
        value = pydantic_core.from_json(raw.removeprefix(codecs.BOM_UTF8) if isinstance(raw, bytes) else raw)
    except ValueError:  # not JSON, not UTF-8, or what only the json module accepts (a lone surrogate escape)
        value = _json_object_slowly(raw)
    if not isinstance(value, dict):
        raise DatasetError(f"expected a JSON object, found {type(value).__name__}")
    return value


def _json_object_slowly(raw: bytes | str) -> Any:
    """The value as the json module reads it, or the DatasetError that says what is wrong."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None


def required_text(record: dict[str, Any], key: str, field: str | None = None) -> str:
    """A non-empty string field of `record`."""
    field = field or key
    if key not in record or record[key] is None:
        raise DatasetError("missing", field=field)
    value = record[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise DatasetError(f"expected text, found {type(value).__name__}", field=field)
    if not value.strip():
        raise DatasetError("empty", field=field)
    return value


def letter_span(letters: list[str]) -> str:
    if not letters:
        return "none"
    return letters[0] if len(letters) == 1 else f"{letters[0]}–{letters[-1]}"


def check_option_letters(letters: list[str], field: str = "options") -> None:
    """Option letters must run A, B, C… with no gap or repeat: 'A,B,D' usually means a lost option."""
    expected = [chr(ord("A") + i) for i in range(len(letters))]
    if letters != expected:
        raise DatasetError(f"option letters {', '.join(letters)} do not run A, B, C… in order", field=field)
    if len(letters) < 2:
        raise DatasetError(f"a choice item needs at least two options, found {len(letters)}", field=field)


def split_option_label(text: str) -> tuple[str, str] | None:
    match = OPTION_LINE.match(text)
    if match is None:
        return None
    return match.group(1), match.group(2).strip()


def options_from_list(items: list[Any], field: str = "options") -> dict[str, str]:
    """["A. text", "B: text", …] -> {"A": "text", …}; a list with no labels at all is lettered in order."""
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise DatasetError(f"option {index + 1} is {type(item).__name__}, not text", field=field)
    labelled = [split_option_label(item) for item in items]
    if all(label is None for label in labelled):
        labelled = [(chr(ord("A") + index), item.strip()) for index, item in enumerate(items)]
    options: dict[str, str] = {}
    for index, label in enumerate(labelled):
        if label is None:
            raise DatasetError(
                f"option {index + 1} {items[index][:30]!r} has no letter label like 'A.'", field=field
            )
        letter, text = label
        if letter in options:
            raise DatasetError(f"option letter {letter} appears twice", field=field)
        options[letter] = text
    check_option_letters(list(options), field)
    return options


def options_from_dict(items: dict[Any, Any], field: str = "options") -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in items.items():
        letter = str(key).strip().upper()
        if not re.fullmatch(r"[A-Z]", letter):
            raise DatasetError(f"option key {key!r} is not a letter", field=field)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise DatasetError(f"option {letter} is {type(value).__name__}, not text", field=field)
        options[letter] = str(value).strip()
    check_option_letters(list(options), field)
    return options


def options_from_inline(text: str, field: str = "options") -> dict[str, str]:
    """One string with inline labels: "A. x B. y C. z" or, with no space between them,
    "A、希波克拉底B、盖伦C、张仲景" -> {"A": "x", …}."""
    run = inline_options(text)
    if run is None or text[: run[0]].strip():
        raise DatasetError(f"cannot find option labels in {text[:40]!r}", field=field)
    return run[1]


# A label in a run of inline options: "A." "A．" "A、" "A:" "A)" "(A)". Labels of one run share
# their separator class, so that "A、…B、…" does not also stop at a "C." inside an option text.
_INLINE_SEPARATOR_CLASSES = (".．", "、", ":：", ")）")


def inline_options(text: str) -> tuple[int, dict[str, str]] | None:
    """The options written inline at the end of `text`, and where their first label starts.

    Labels are looked for in order (A, then B after it, …). Labels after whitespace are preferred
    ("A. x B. y", so "0.3～0.9g" or "维生素B.12" inside an option does not split it); then labels
    after anything but a Latin letter or digit ("A.宜进行治疗药物监测B.半衰期短C.…"); then after
    anything ("A.维生素B12B.叶酸"); the looser reading only wins when it finds more options. A '.'
    label is never followed by a digit, and no option may be empty ("维生素A、B、C" is no run).
    The last A that starts a run of at least two options wins (a stem may mention "维生素A、").
    """
    if "A" not in text:  # no first label, no run (the scans below are the slow part)
        return None
    best: tuple[int, dict[str, str]] | None = None
    for before in _LABEL_BEFORE:
        for match in reversed(list(_label_pattern("A", None, before).finditer(text))):
            run = _run_from(text, match, before)
            if run is not None:
                if best is None or len(run) > len(best[1]):
                    best = match.start(), run
                break
    return best


# What may precede a label, tried in turn: whitespace; anything but a Latin letter or digit; anything
# ("A.维生素B12B.叶酸C.…", where an option ends in a digit or letter).
_LABEL_BEFORE = (r"(?:^|(?<=\s))", r"(?<![A-Za-z0-9])", "")


@functools.cache  # at most 26 letters x 5 separator sets x 3 contexts; compiled once, not per record
def _label_pattern(letter: str, separators: str | None, before: str) -> re.Pattern[str]:
    separators = separators or "".join(_INLINE_SEPARATOR_CLASSES)
    after = r"(?![0-9])" if "." in separators else ""
    return re.compile(rf"{before}[(（]?{letter}\s*([{re.escape(separators)}]){after}\s*", re.MULTILINE)


def _run_from(text: str, first: re.Match[str], before: str) -> dict[str, str] | None:
    separators = next(c for c in _INLINE_SEPARATOR_CLASSES if first.group(1) in c)
    starts = [(first.start(), first.end())]
    for offset in range(1, 26):
        label = _label_pattern(chr(ord("A") + offset), separators, before).search(text, starts[-1][1])
        if label is None:
            break
        starts.append((label.start(), label.end()))
    if len(starts) < 2:
        return None
    options = {}
    for index, (_, text_start) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        option = text[text_start:end].strip()
        if not option:
            return None
        options[chr(ord("A") + index)] = option
    return options


def parse_options(value: Any, field: str = "options") -> dict[str, str]:
    """Any of the encodings sources use; None or empty -> {} (not a choice item)."""
    if value is None or value == "" or value == [] or value == {}:
        return {}
    if isinstance(value, dict):
        return options_from_dict(value, field)
    if isinstance(value, list):
        return options_from_list(value, field)
    if isinstance(value, str):
        return options_from_inline(value, field)
    raise DatasetError(
        f"expected a list, object or string of options, found {type(value).__name__}", field=field
    )


def option_block(lines: list[str]) -> tuple[int, dict[str, str]] | None:
    """Find the trailing block of labelled option lines ("A. …" then "B. …" …) in `lines`.

    Returns the index where the block starts and the options; a line without the next label
    continues the option above it (wrapped option text). None when there is no A/B block.
    """
    labels = [split_option_label(line) for line in lines]
    starts = [i for i, label in enumerate(labels) if label and label[0] == "A"]
    for start in reversed(starts):
        options: dict[str, str] = {}
        current = None
        for line, label in zip(lines[start:], labels[start:], strict=True):
            expected = chr(ord("A") + len(options))
            if label is not None and label[0] == expected:
                current = expected
                options[current] = label[1]
            elif current is not None and line.strip():
                options[current] = f"{options[current]}\n{line.strip()}".strip()
        if len(options) >= 2:
            return start, options
    return None


def gold_letters(answer: Any, options: dict[str, str], field: str = "answer") -> list[str]:
    """ "B", "ACD", "A,C", ["A", "C"] -> sorted letters, each checked against the options."""
    if isinstance(answer, list):
        parts = [str(part) for part in answer]
        text = "".join(parts)
    elif isinstance(answer, str):
        text = answer
    else:
        raise DatasetError(f"expected option letters, found {type(answer).__name__}", field=field)
    letters_text = _ANSWER_SEPARATORS.sub("", text.strip()).upper()
    known = list(options)
    if not letters_text:
        raise DatasetError("empty answer", field=field)
    if not _LETTERS.fullmatch(letters_text):
        raise DatasetError(
            f"answer {text[:40]!r} is not option letters (options are {letter_span(known)})", field=field
        )
    for letter in letters_text:
        if letter not in options:
            raise DatasetError(
                f"unknown answer letter {letter!r} (options are {letter_span(known)})", field=field
            )
    return sorted(set(letters_text))


_BULLET = re.compile(r"^\s*[-•*·]\s*")


def bullet_points(value: Any, field: str = "key_points") -> list[str]:
    """ "- a\\n- b" or ["a", "b"] -> ["a", "b"] (numbers are kept: "0.1g" must not lose "0.")."""
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        lines = value
    else:
        raise DatasetError(
            f"expected bullet text or a list of strings, found {type(value).__name__}", field=field
        )
    points = [_BULLET.sub("", line).strip() for line in lines]
    points = [point for point in points if point]
    if not points:
        raise DatasetError("no key points", field=field)
    return points


def resolve_dimension(dimension: str | None, path: Path | None = None) -> Dimension | None:
    """A dimension given for every item of the file at `path` (checked), or None."""
    if dimension is not None and dimension not in DIMENSIONS:
        raise DatasetError(f"unknown dimension {dimension!r} (one of {', '.join(DIMENSIONS)})", path=path)
    return cast(Dimension | None, dimension)  # checked against DIMENSIONS above


MULTI_HINTS = ("多选", "多项", "不定项")


def choice_kind(options: dict[str, str], gold: Gold | None, question: str) -> Kind:
    """The kind of an item whose file does not say it: open without options; else multi when the
    gold has several letters, or (no gold) the question says so (多选, 不定项)."""
    if not options:
        return "open"
    if gold is not None and gold.letters is not None:
        return "multi" if len(gold.letters) > 1 else "single"
    return "multi" if any(hint in question for hint in MULTI_HINTS) else "single"


class UniqueIds:
    """Sample ids must be unique within a file; a repeat names the first line that used it."""

    def __init__(self) -> None:
        self.first_line: dict[str, int | None] = {}

    def claim(self, sample_id: str, line: int | None, field: str = "id") -> None:
        if sample_id in self.first_line:
            first = self.first_line[sample_id]
            where = f" (first at line {first})" if first is not None else ""
            raise DatasetError(f"duplicate id {sample_id!r}{where}", field=field)
        self.first_line[sample_id] = line
