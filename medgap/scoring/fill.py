"""Fill-in-the-blank items (MTCMB TCM-SE-A: doses, toxicity grades, contraindications).

The expected string may hold several facts separated by `；` (`有大毒；0.3～0.9g`); every fact must be
found in the answer for the item to count (score 1, else 0). A fact is either

- a quantity or range (`0.1～0.3g`, `6g`): the answer must state the same quantity, compared as
  numbers after unit conversion (g/克/mg/毫克/kg/μg, ml/毫升) — `0.1-0.3克`, `0.1g至0.3g` and
  `100~300mg` all match `0.1～0.3g`; a range never matches a single value or another range;
- text (`禁用`, `合谷、三阴交、缺盆、昆仑`): each element of a `、`/`，` list must occur in the answer,
  in any order, after width/case folding and with whitespace and punctuation removed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from medgap.records import Attempt, Response, Sample, Score

_FACT_SEPARATOR = re.compile(r"[；;]")
_ELEMENT_SEPARATOR = re.compile(r"[、，,/]")
_RANGE_WORDS = str.maketrans({"〜": "~", "～": "~", "–": "-", "—": "-", "－": "-", "至": "~", "到": "~"})
# unit spelling -> (canonical unit, factor to the family's base unit)
_UNITS = {
    "mg": ("g", 1e-3), "毫克": ("g", 1e-3), "g": ("g", 1.0), "克": ("g", 1.0), "kg": ("g", 1e3),
    "千克": ("g", 1e3), "公斤": ("g", 1e3), "μg": ("g", 1e-6), "µg": ("g", 1e-6), "ug": ("g", 1e-6),
    "mcg": ("g", 1e-6), "微克": ("g", 1e-6), "ml": ("ml", 1.0), "毫升": ("ml", 1.0),
}
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_NUMBER = r"(\d+(?:\.\d+)?)"
_QUANTITY = re.compile(
    rf"(?<![\d.]){_NUMBER}\s*({_UNIT_ALT})?(?![a-z])(?:\s*[~-]\s*{_NUMBER}\s*({_UNIT_ALT})?(?![a-z]))?"
)
_DROP_FOR_TEXT = re.compile(r"[\s\u3000，,。.、；;：:！!？?“”\"'‘’（）()《》【】\[\]]")


def fold(text: str) -> str:
    """Full/half width, case and range words folded: `０．１～０．３Ｇ` -> `0.1~0.3g`."""
    return unicodedata.normalize("NFKC", text).translate(_RANGE_WORDS).lower()


@dataclass(frozen=True)
class Quantity:
    low: float
    high: float  # == low for a single value
    unit: str | None  # canonical unit family ("g", "ml") or None when none was written

    @property
    def is_range(self) -> bool:
        return self.high != self.low

    def same_as(self, other: Quantity) -> bool:
        if self.is_range != other.is_range:
            return False
        if self.unit and other.unit and self.unit != other.unit:
            return False
        return _close(self.low, other.low) and _close(self.high, other.high)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _quantity(match: re.Match[str]) -> Quantity:
    low_text, low_unit, high_text, high_unit = match.groups()
    low_unit = low_unit or high_unit  # `0.1~0.3g`: the unit written once covers both ends
    high_unit = high_unit or low_unit
    low, high = float(low_text), float(high_text) if high_text else float(low_text)
    unit = None
    if low_unit:
        unit, factor = _UNITS[low_unit]
        low *= factor
        high = high * _UNITS[high_unit][1] if high_text else low
    return Quantity(low, high, unit)


def find_quantities(text: str) -> list[Quantity]:
    return [_quantity(m) for m in _QUANTITY.finditer(fold(text))]


def parse_quantity(fact: str) -> Quantity | None:
    """The quantity a whole fact states, or None when the fact is text."""
    folded = re.sub(r"\s+", "", fold(fact))
    match = _QUANTITY.fullmatch(folded)
    return _quantity(match) if match else None


def text_key(text: str) -> str:
    return _DROP_FOR_TEXT.sub("", fold(text))


def split_facts(expected: str) -> list[str]:
    return [f.strip() for f in _FACT_SEPARATOR.split(expected) if f.strip()]


def fact_found(fact: str, answer: str) -> bool:
    quantity = parse_quantity(fact)
    if quantity is not None:
        return any(quantity.same_as(q) for q in find_quantities(answer))
    answer_key = text_key(answer)
    elements = [text_key(e) for e in _ELEMENT_SEPARATOR.split(fact)]
    elements = [e for e in elements if e]
    return bool(elements) and all(e in answer_key for e in elements)


@dataclass
class FillResult:
    facts: list[str]
    found: list[bool]

    @property
    def correct(self) -> bool:
        return bool(self.facts) and all(self.found)


def match_fill(expected: str, answer: str) -> FillResult:
    facts = split_facts(expected)
    return FillResult(facts, [fact_found(f, answer) for f in facts])


def score_fill(sample: Sample, attempt: Attempt, response: Response) -> Score:
    expected = sample.gold.text if sample.gold is not None else None
    if not expected or not expected.strip():
        return Score(value=None, details={"ungraded": True})
    result = match_fill(expected, response.text)
    details = {
        "facts": result.facts,
        "found": result.found,
        "missed": [f for f, ok in zip(result.facts, result.found, strict=True) if not ok],
    }
    return Score(value=1.0 if result.correct else 0.0, details=details)
