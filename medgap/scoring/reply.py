"""What a model's reply holds: its answer part (after any <think> block) and the JSON in it.

Two ways to read JSON, for two kinds of caller:

- `json_only`: a reply that was asked to be JSON only (the key-point judge, the level-1 `json` solver) —
  bare or inside one ```json fence, nothing else around it; anything else is an error, never guessed;
- `json_in` / `json_values_in`: JSON somewhere inside free text (extraction answers, the error-category
  judge, a choice answer written as `{"answer": "B"}`), with common near-JSON repaired.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

# a fenced code block: (language, content)
FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n?(.*?)```", re.DOTALL)
JSON_FENCE_LANGUAGES = ("", "json", "json5", "javascript", "js", "python")  # blocks worth trying as JSON
MAX_STARTS = 200  # brackets tried as the start of a bare JSON value
MISSING: Any = object()  # json_in's answer when the text holds no JSON (null is a JSON value)


def answer_part(text: str) -> tuple[str, bool]:
    """The text after any <think> block, and whether the model concluded thinking with an answer."""
    thinking, closed, answer = text.rpartition("</think>")
    if closed:
        return (answer, True) if answer.strip() else (thinking.rpartition("<think>")[2], False)
    before, opened, thinking = text.partition("<think>")
    return (thinking, False) if opened and not before.strip() else (before, True)


def body_of(text: str | None) -> str:
    """The answer part of a response: after any <think> block, code fences kept."""
    return answer_part(text or "")[0].strip()


def json_only(text: str) -> object:
    """The JSON value of a reply that was asked to be JSON only: its answer part (after any <think>
    block), bare or inside one ```json fence, with nothing else around it.
    Raises json.JSONDecodeError when that is not what the reply is."""
    body, concluded = answer_part(text)
    if not concluded:
        raise json.JSONDecodeError("no answer after the <think> block", text, 0)
    body = body.strip()
    fenced = FENCE.fullmatch(body)
    if fenced and fenced.group(1).lower() in ("", "json"):
        body = fenced.group(2)
    return json.loads(body)


def json_in(text: str) -> Any:
    """The JSON answer in `text`: the last fenced block that parses, else the longest bare array or
    object; `MISSING` when there is none."""
    for language, block in reversed(FENCE.findall(text)):
        if language.lower() not in JSON_FENCE_LANGUAGES:
            continue
        value = _loads(block)
        if value is not MISSING:
            return value
    best, best_length = MISSING, 0
    for start, end, value in json_values_in(text):
        if end - start > best_length:
            best, best_length = value, end - start
    return best


def json_values_in(text: str) -> Iterator[tuple[int, int, list | dict]]:
    """(start, end, value) for each array or object that starts at one of the first brackets of
    `text`, nested ones included, in order of their start."""
    decoder = json.JSONDecoder()
    starts = [match.start() for match in re.finditer(r"[\[{]", text)][:MAX_STARTS]
    for start in starts:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            repaired = _repaired(text[start:])
            if repaired is None:
                continue
            value, end = repaired
            end += start
        if isinstance(value, (list, dict)):
            yield start, end, value


def _loads(block: str) -> Any:
    block = block.strip()
    if not block:
        return MISSING
    try:
        return json.loads(block)
    except json.JSONDecodeError:
        repaired = _repaired(block)
        return repaired[0] if repaired is not None else MISSING


def _repaired(text: str) -> tuple[Any, int] | None:
    """Common near-JSON: trailing commas, Chinese or single quotes. Returns (value, end) or None."""
    fixed = re.sub(r",\s*([\]}])", r"\1", text)
    fixed = fixed.replace("“", '"').replace("”", '"')
    if '"' not in fixed:
        fixed = fixed.replace("'", '"')
    try:
        return json.JSONDecoder().raw_decode(fixed)
    except json.JSONDecodeError:
        return None
