"""Answers from a MedBench-format predictions file: `replay/<path to predictions.jsonl>`.

Each line is a MedBench record (`question`, `options`, `other.id`, `other.source`) whose `answer`
holds the model's raw reply. Lines are read with the MedBench loader's own `read_question`, so a
line's stem and options are exactly what the loader made of the same item, whatever preamble either
side carries.

A request is matched by `other.id` (`sample.metadata["other_id"]`, or the loader's
`metadata["other"]["id"]`), else by the normalised question (`question_key`, computed the same way
on both sides); among those, the lines with the options in the order asked. When the data file asks
one item several times in one order (MedBench copies), the n-th copy gets the n-th such line. A file
that answers one (question, order) more often than the data asks it, with different answers, is
inconsistent: the row gets the first answer and the others in `Response.alternatives`, and the item
counts as inconsistent in robustness. An item with no prediction comes back as an error, so it
shows as missing rather than as a wrong answer.

`skip_bad=True` (`medgap run --skip-bad`) reports and skips broken lines and git merge-conflict
markers (`<<<<<<<`, `=======`, `>>>>>>>`) with file:line, keeping the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgap.datasets.errors import DatasetError
from medgap.datasets.medbench import matching_key, option_key, question_key, read_question, text_has_options
from medgap.datasets.parsing import BadRows, OnSkip, json_object, numbered_lines, parse_options
from medgap.models.base import Model, ModelRequest
from medgap.records import Response, Sample
from medgap.scoring.choice_answer import extract_choice

CONFLICT_MARKERS = (b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")


@dataclass(frozen=True)
class Prediction:
    line: int
    other_id: str | None
    source: str | None
    question: str  # question_key of the stem
    options: tuple[str, ...]  # option texts (option_key), in the order this line asked them
    answer: str | None  # None (null in the file): the line was left unanswered


class ReplayModel(Model):
    default_concurrency = 64

    def __init__(self, name: str, *, skip_bad: bool = False, on_skip: OnSkip | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.path = Path(name)
        if not self.path.is_file():
            raise ValueError(f"replay: predictions file {self.path} not found")
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.skipped: list[DatasetError] = []
        self.predictions = read_predictions(self.path, skip_bad=skip_bad, on_skip=self._skipped(on_skip))
        self.by_id: dict[str, list[Prediction]] = {}
        self.by_question: dict[str, list[Prediction]] = {}
        for prediction in self.predictions:
            if prediction.other_id is not None:
                self.by_id.setdefault(prediction.other_id, []).append(prediction)
            self.by_question.setdefault(prediction.question, []).append(prediction)

    def _skipped(self, on_skip: OnSkip | None) -> OnSkip:
        def record(error: DatasetError) -> None:
            self.skipped.append(error)
            if on_skip is not None:
                on_skip(error)
            else:
                BadRows.log(error)

        return record

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "provider": "replay", "sha256": self.sha256,
                "predictions": len(self.predictions), "skipped_lines": len(self.skipped)}

    async def generate(self, request: ModelRequest) -> Response:
        found = self.find(request)
        if isinstance(found, str):
            return Response(error=f"replay: {found}")
        chosen, others = found
        if chosen.answer is None:
            return Response(error=f"replay: line {chosen.line} of {self.path} has no answer (null)")
        return Response(text=chosen.answer, latency_s=0.0, alternatives=differing(chosen, others, request))

    def find(self, request: ModelRequest) -> tuple[Prediction, list[Prediction]] | str:
        """The prediction answering `request` and the other lines that answer the same prompt, or
        why there is none."""
        sample = request.sample
        other_id, source = other_of(sample)
        question = sample_key(sample)
        what = f"question {sample.question[:40]!r}"
        what = what if other_id is None else f"other.id {other_id} ({what})"
        candidates = (self.by_id.get(other_id) if other_id is not None else None) or self.by_question.get(question)
        if not candidates:
            return f"no prediction for {what} in {self.path}"
        # an id reused across tasks: prefer the same task, then the same question
        candidates = [p for p in candidates if source is None or p.source in (None, source)] or candidates
        candidates = [p for p in candidates if p.question == question] or candidates
        asked = tuple(option_key(text) for text in request.attempt.options.values())
        if asked:  # a reply names letters: it only answers the options in the order it saw them
            candidates = [p for p in candidates if p.options == asked] or [p for p in candidates if not p.options]
            if not candidates:
                return f"no prediction for {what} with the options in the order asked"
        rank, copies = copy_rank(request)
        if len(candidates) == copies or copies is None and rank < len(candidates):
            return candidates[min(rank, len(candidates) - 1)], []
        chosen = candidates[min(rank, len(candidates) - 1)]
        return chosen, [p for p in candidates if p is not chosen]


def differing(chosen: Prediction, others: list[Prediction], request: ModelRequest) -> list[str]:
    """The other answers that commit to something else (other letters, for a choice item)."""
    options = request.attempt.options
    multi = request.sample.kind == "multi"

    def meaning(answer: str | None) -> str | None:
        if answer is None:
            return None
        return extract_choice(answer, options, multi=multi) if options else " ".join(answer.split())

    mine = meaning(chosen.answer)
    seen: list[str] = []
    for other in others:
        if other.answer is not None and meaning(other.answer) != mine and other.answer not in seen:
            seen.append(other.answer)
    return seen


def copy_rank(request: ModelRequest) -> tuple[int, int | None]:
    """Which copy of its prompt this request is (0-based), and how many copies the data has
    (None: unknown). MedBench copies of a choice item may repeat an order; open questions asked
    twice under one id carry their rank in `metadata["copy"]`."""
    sample, permutation = request.sample, request.attempt.permutation
    orders = sample.given_orders
    if orders and permutation < len(orders):
        order = orders[permutation]
        return orders[:permutation].count(order), orders.count(order)
    if sample.is_choice or "copy" not in sample.metadata:
        return 0, 1
    return int(sample.metadata["copy"]), None


def sample_key(sample: Sample) -> str:
    """The request's normalised question: the loader's, else computed from the sample's question."""
    key = sample.metadata.get("question_key")
    return key if isinstance(key, str) else question_key(sample.question)


def other_of(sample: Sample) -> tuple[str | None, str | None]:
    """(other.id, other.source) of a MedBench sample, as strings."""
    other = sample.metadata.get("other") or {}
    other_id = sample.metadata.get("other_id", other.get("id") if isinstance(other, dict) else None)
    source = other.get("source") if isinstance(other, dict) else None
    return (None if other_id is None else str(other_id)), (None if source is None else str(source))


def read_predictions(path: Path, *, skip_bad: bool = False, on_skip: OnSkip | None = None) -> list[Prediction]:
    """The predictions of a file; a bad line raises naming file:line (and field), or with
    `skip_bad` is reported to `on_skip` and skipped."""
    bad = BadRows(path, skip_bad, on_skip)
    predictions = []
    for line, raw in numbered_lines(path):
        with bad.row(line):
            if raw.lstrip().startswith(CONFLICT_MARKERS):
                raise DatasetError(f"git merge-conflict marker {raw.strip()[:7].decode()!r} (resolve the conflict)")
            predictions.append(prediction_from(json_object(raw), line))
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
    other = record.get("other")
    if not isinstance(other, dict):
        other = {}
    other_id, source = other.get("id"), other.get("source")
    given, text_options = parse_options(record.get("options")), source is None or text_has_options(str(source))
    parts = read_question(question, given, text_options=text_options)
    return Prediction(
        line=line,
        other_id=None if other_id is None else str(other_id),
        source=None if source is None else str(source),
        question=parts.key if parts.text_alone else matching_key(question),  # read once when that reading is the key
        options=tuple(option_key(text) for text in parts.options.values()),
        answer=answer,
    )
