"""Key points of open items: the source's own list where it has one, else derived from the reference.

Reference answers (CMB-Clin) enumerate their content in many ways: `①②③`, `（1）(2)`, `1.`/`1、`/`1）`,
`一、二、`, `- ` bullets, line breaks, and headed sections (`诊断：… 诊断依据：… 鉴别诊断：…`). Splitting:

1. lines are joined back where the source wrapped mid-sentence (a line ending in `，`/`、`);
2. each line is cut before every enumeration marker and before a section heading that starts a clause;
3. an enumerated item is one point, kept whole (its author grouped it, `；` inside included);
   un-enumerated text is split into clauses on `。；！？`, one point each;
4. empty fragments and pure headings (`诊断依据：`, `本病例特点为：`) are dropped, duplicates removed.

Users check the result with `medgap keypoints DATASET` and may override it with a JSONL file of
`{"id": ..., "points": [...]}` lines, applied by `apply_overrides`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from medgap.records import Sample

# Section headings that carry no content of their own: a fragment that is only one of these is
# dropped, and `point_body` strips them before a point is matched.
GENERIC_HEADINGS = (
    "诊断依据", "鉴别诊断要点", "鉴别诊断", "初步诊断", "诊断", "治疗原则", "处理原则", "治疗方案", "治疗",
    "进一步检查", "病史分析", "体格检查分析", "辅助检查分析", "本病例特点为", "本病例特点", "病例特点",
    "解析", "答案",
)
_HEADING_ALT = "|".join(sorted(GENERIC_HEADINGS, key=len, reverse=True))

# A marker must start a clause: text start, whitespace or clause punctuation before it.
_BOUNDARY = r"(?:^|(?<=[\s：:；;。，,！!？?]))"
_MARKERS = re.compile(
    "|".join(
        (
            r"[\u2460-\u2473\u2474-\u2487\u2488-\u249b]",  # ①..⑳, ⑴..⒇, ⒈..⒛
            r"[（(]\s*(?:\d{1,2}|[一二三四五六七八九十]{1,2})\s*[）)]",  # （1） (2) （一）
            _BOUNDARY + r"\d{1,2}\s*[）)]",  # 1）
            _BOUNDARY + r"\d{1,2}\s*[.．、](?!\d)",  # 1. 1、 (not 3.1)
            _BOUNDARY + r"[一二三四五六七八九十]{1,2}\s*[、.．]",  # 一、
            r"^[-•·*]\s+",  # bullets
        )
    )
)
_HEADING_START = re.compile(_BOUNDARY + rf"(?:{_HEADING_ALT})\s*[：:]")
_LEADING_HEADING = re.compile(rf"^\s*(?:{_HEADING_ALT})\s*[：:]\s*")
_CLAUSE_END = re.compile(r"(?<=[。；;！!？?])")
_WRAPPED = re.compile(r"[，,、]\s*$")
_TRIM = " \t\u3000。；;，,、.．"
_CONTENT = re.compile(r"[\w\u4e00-\u9fff]")
# `所以答案是A` / `答案： C`: the letter of a choice question some references end with, not a point
_ANSWER_LETTER = re.compile(r"^(?:所以|故|因此)?(?:正确)?答案(?:是|为|应为|选)?\s*[：:]?\s*[A-Ea-e]$")


@dataclass(frozen=True)
class Fragment:
    text: str
    enumerated: bool


def split_reference(text: str) -> list[str]:
    """Key points derived from a free-text reference answer (see the module docstring)."""
    points: list[str] = []
    for line in _logical_lines(text):
        for fragment in _fragments(line):
            pieces = [fragment.text] if fragment.enumerated else _CLAUSE_END.split(fragment.text)
            for piece in pieces:
                point = _clean(piece)
                if point and not is_heading(point) and not _ANSWER_LETTER.match(point) and point not in points:
                    points.append(point)
    return points


def _logical_lines(text: str) -> list[str]:
    """Source lines, re-joined where a line was wrapped inside a sentence."""
    lines: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.strip(" \t\u3000")
        if not line:
            continue
        if lines and _WRAPPED.search(lines[-1]) and not _MARKERS.match(line):
            lines[-1] = lines[-1].rstrip() + line
        else:
            lines.append(line)
    return lines


def _fragments(line: str) -> list[Fragment]:
    cuts = sorted({m.start() for m in _MARKERS.finditer(line)} | {m.start() for m in _HEADING_START.finditer(line)})
    bounds = [0, *[c for c in cuts if c > 0], len(line)]
    fragments = []
    for start, end in pairwise(bounds):
        piece = line[start:end]
        marker = _MARKERS.match(piece)
        if marker:
            fragments.append(Fragment(piece[marker.end():], enumerated=True))
        else:
            fragments.append(Fragment(piece, enumerated=False))
    return fragments


def _clean(piece: str) -> str:
    point = re.sub(r"\s+", " ", piece).strip(_TRIM)
    return point if _CONTENT.search(point) else ""


def is_heading(point: str) -> bool:
    """A fragment that only announces what follows (`诊断依据：`, `本病例特点为：`)."""
    stripped = point.strip(_TRIM)
    return stripped.endswith(("：", ":")) or stripped in GENERIC_HEADINGS


def point_body(point: str) -> str:
    """A point without a leading generic heading (`诊断：胆囊结石` -> `胆囊结石`), for matching."""
    body = _LEADING_HEADING.sub("", point, count=1)
    return body if _CONTENT.search(body) else point


# where a sample's points came from, recorded in Sample.metadata["key_points_source"]
GIVEN, DERIVED, OVERRIDE = "given", "derived", "override"


def key_points(sample: Sample) -> list[str]:
    """The points an answer to `sample` is checked against: the gold list, else derived from gold.text."""
    gold = sample.gold
    if gold is None:
        return []
    if gold.key_points:
        return list(gold.key_points)
    return split_reference(gold.text or "")


def key_points_source(sample: Sample) -> str:
    if sample.metadata.get("key_points_source") == OVERRIDE:
        return OVERRIDE
    return GIVEN if sample.gold is not None and sample.gold.key_points else DERIVED


class OverrideError(ValueError):
    """A malformed key-point override file; the message names file, line and field."""


def read_overrides(path: str | Path) -> dict[str, list[str]]:
    """`{"id": ITEM_ID, "points": ["…", …]}` per line -> {id: points}."""
    path = Path(path)
    overrides: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OverrideError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise OverrideError(f"{where}: expected an object with fields 'id' and 'points'")
            item_id = record.get("id")
            if not isinstance(item_id, (str, int)) or isinstance(item_id, bool) or str(item_id) == "":
                raise OverrideError(f"{where}: field 'id' must be a non-empty string")
            points = record.get("points")
            if not isinstance(points, list) or not points or not all(isinstance(p, str) and p.strip() for p in points):
                raise OverrideError(f"{where}: field 'points' must be a non-empty list of non-empty strings")
            if str(item_id) in overrides:
                raise OverrideError(f"{where}: field 'id' repeats item {item_id!r}")
            overrides[str(item_id)] = [p.strip() for p in points]
    return overrides


def apply_overrides(samples: list[Sample], path: str | Path) -> list[Sample]:
    """Samples with gold.key_points replaced from an override file. Ids not among the samples are an
    error (a typo would otherwise silently keep the derived points)."""
    overrides = read_overrides(path)
    known = {s.id for s in samples}
    unknown = [item_id for item_id in overrides if item_id not in known]
    if unknown:
        raise OverrideError(f"{path}: field 'id' names items not in the data: {', '.join(unknown[:5])}")
    out = []
    for sample in samples:
        points = overrides.get(sample.id)
        if points is None or sample.gold is None:
            out.append(sample)
            continue
        gold = sample.gold.model_copy(update={"key_points": points})
        metadata = {**sample.metadata, "key_points_source": OVERRIDE}
        out.append(sample.model_copy(update={"gold": gold, "metadata": metadata}))
    return out


def write_points(samples: list[Sample], path: str | Path) -> int:
    """Write the points in force for each open item as an override file the user can edit."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for sample in samples:
            if sample.kind != "open":
                continue
            handle.write(json.dumps({"id": sample.id, "points": key_points(sample)}, ensure_ascii=False) + "\n")
            count += 1
    return count
