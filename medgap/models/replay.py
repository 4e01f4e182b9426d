"""Answers from a MedBench-format predictions file: `replay/<path to predictions.jsonl>`.

Each line is a MedBench record (`question`, `options`, `other.id`, `other.source`) whose `answer`
holds the model's raw reply. Lines are read with the MedBench loader's own parsing, so a line's stem
and options are exactly what the loader made of the same item. A request is matched by `other.id`
(`sample.metadata["other_id"]`, or the loader's `metadata["other"]["id"]`), else by question text;
where several lines share it (MedBench repeats an item under several option orders) the one with
the options in the order asked wins. An item with no prediction comes back as an error, so it
shows as missing rather than as a wrong answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgap.datasets.errors import DatasetError
from medgap.datasets.medbench import split_instruction, stem_and_options
from medgap.datasets.parsing import json_object, numbered_lines, parse_options
from medgap.models.base import Model, ModelRequest
from medgap.records import Response, Sample


@dataclass(frozen=True)
class Prediction:
    line: int
    other_id: str | None
    source: str | None
    question: str  # the stem, squashed
    options: tuple[str, ...]  # option texts, squashed, in the order this line asked them
    answer: str | None  # None (null in the file): the line was left unanswered


class ReplayModel(Model):
    default_concurrency = 64

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.path = Path(name)
        if not self.path.is_file():
            raise ValueError(f"replay: predictions file {self.path} not found")
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.predictions = read_predictions(self.path)
        self.by_id: dict[str, list[Prediction]] = {}
        self.by_question: dict[str, list[Prediction]] = {}
        for prediction in self.predictions:
            if prediction.other_id is not None:
                self.by_id.setdefault(prediction.other_id, []).append(prediction)
            self.by_question.setdefault(prediction.question, []).append(prediction)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "provider": "replay", "sha256": self.sha256, "predictions": len(self.predictions)}

    async def generate(self, request: ModelRequest) -> Response:
        found = self.find(request)
        if isinstance(found, str):
            return Response(error=f"replay: {found}")
        if found.answer is None:
            return Response(error=f"replay: line {found.line} of {self.path} has no answer (null)")
        return Response(text=found.answer, latency_s=0.0)

    def find(self, request: ModelRequest) -> Prediction | str:
        """The prediction answering `request`, or why there is none."""
        sample = request.sample
        other_id, source = other_of(sample)
        question = squash(sample.question)
        what = f"question {sample.question[:40]!r}"
        what = what if other_id is None else f"other.id {other_id} ({what})"
        candidates = (self.by_id.get(other_id) if other_id is not None else None) or self.by_question.get(question)
        if not candidates:
            return f"no prediction for {what} in {self.path}"
        # an id reused across tasks: prefer the same task, then the same question
        candidates = [p for p in candidates if source is None or p.source in (None, source)] or candidates
        candidates = [p for p in candidates if p.question == question] or candidates
        asked = tuple(squash(text) for text in request.attempt.options.values())
        if asked:  # a reply names letters: it only answers the options in the order it saw them
            candidates = [p for p in candidates if p.options == asked] or [p for p in candidates if not p.options]
            if not candidates:
                return f"no prediction for {what} with the options in the order asked"
        if len({p.answer for p in candidates}) > 1 and len(candidates) > 1:
            lines = ", ".join(str(p.line) for p in candidates)
            return f"{what} matches several lines with different answers ({lines}) in {self.path}"
        return candidates[0]


def other_of(sample: Sample) -> tuple[str | None, str | None]:
    """(other.id, other.source) of a MedBench sample, as strings."""
    other = sample.metadata.get("other") or {}
    other_id = sample.metadata.get("other_id", other.get("id") if isinstance(other, dict) else None)
    source = other.get("source") if isinstance(other, dict) else None
    return (None if other_id is None else str(other_id)), (None if source is None else str(source))


def read_predictions(path: Path) -> list[Prediction]:
    predictions = []
    for line, raw in numbered_lines(path):
        try:
            predictions.append(prediction_from(json_object(raw), line))
        except DatasetError as exc:
            raise exc.at(path=path, line=line) from None
    return predictions


def prediction_from(record: dict[str, Any], line: int) -> Prediction:
    question = record.get("question")
    if not isinstance(question, str):
        raise DatasetError("must be a string", field="question")
    if "answer" not in record:
        raise DatasetError("missing (the model's reply goes here)", field="answer")
    answer = record["answer"]
    if not isinstance(answer, (str, type(None))):
        raise DatasetError(f"must be the model's reply as a string, found {type(answer).__name__}", field="answer")
    _, body, _ = split_instruction(question)
    stem, options = stem_and_options(body, parse_options(record.get("options")))
    other = record.get("other") if isinstance(record.get("other"), dict) else {}
    other_id, source = other.get("id"), other.get("source")
    return Prediction(
        line=line,
        other_id=None if other_id is None else str(other_id),
        source=None if source is None else str(source),
        question=squash(stem),
        options=tuple(squash(text) for text in options.values()),
        answer=answer,
    )


def squash(text: str) -> str:
    """Texts compare without whitespace, as the MedBench loader compares them."""
    return "".join(text.split())
