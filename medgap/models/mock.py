"""Deterministic mock models for demos and tests: `mock/oracle`, `mock/first`, `mock/random`,
`mock/refuse`, `mock/position?index=N`.

`mock/oracle` answers every item kind with its gold, in the form the scorer reads, so that an oracle
run scores 1.0 on every metric: the gold letters of a choice item, the reference (or its key points)
of an open item, the expected term of a fill-in, the gold tuples of an extraction item as JSON, and
for a record item a record made of the gold sections (`主诉：…` one per line).

Two options make a mock stand in for a real backend's cost in tests and benchmarks: `delay_ms=N`
waits N ms per call without using the CPU (an API), `busy_ms=N` computes on the event loop until this
thread has had N ms of CPU (a model that keeps one core busy).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from medgap.models.base import Model, ModelRequest
from medgap.records import Response, Sample

BEHAVIOURS = ("oracle", "first", "random", "refuse", "position")


class MockModel(Model):
    default_concurrency = 64

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.behaviour = name
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown mock behaviour {name!r}; choose one of {', '.join(BEHAVIOURS)}")
        self.seed = int(options.get("seed", 0))
        self.index = int(options.get("index", 0))
        self.delay_s = float(options.get("delay_ms", 0)) / 1000
        self.busy_s = float(options.get("busy_ms", 0)) / 1000

    async def generate(self, request: ModelRequest) -> Response:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.busy_s:
            until = time.thread_time() + self.busy_s  # CPU time: a crowded core makes it take longer
            while time.thread_time() < until:
                pass
        return Response(text=self._answer(request), latency_s=0.0)

    def _answer(self, request: ModelRequest) -> str:
        attempt, sample = request.attempt, request.sample
        letters = list(attempt.options)
        if self.behaviour == "refuse":
            return "抱歉，我无法回答这个问题，请咨询专业医生。"
        if not letters:
            return self._open_answer(request)
        if self.behaviour == "oracle":
            gold = attempt.gold_letters or []
            return f"答案：{''.join(gold)}" if gold else "无法确定。"
        if self.behaviour == "first":
            return f"答案：{letters[0]}"
        if self.behaviour == "position":
            return f"答案：{letters[min(self.index, len(letters) - 1)]}"
        rng = random.Random(f"{self.seed}:{sample.id}:{attempt.permutation}")
        return f"答案：{rng.choice(letters)}"

    def _open_answer(self, request: ModelRequest) -> str:
        sample = request.sample
        if self.behaviour == "oracle" and sample.gold is not None:
            answer = oracle_answer(sample)
            if answer:
                return answer
        return "根据题干信息，需要结合临床进一步评估。"


def oracle_answer(sample: Sample) -> str:
    """The gold of a non-choice item written as an answer (see the module docstring); '' if none."""
    gold = sample.gold
    if gold is None:
        return ""
    if sample.kind == "extraction" and gold.structure is not None:
        structure = gold.structure
        return structure if isinstance(structure, str) else json.dumps(structure, ensure_ascii=False)
    if sample.kind == "record" and gold.structure is not None:
        return record_text(gold.structure)
    if gold.text:
        return gold.text
    return "\n".join(gold.key_points)


def record_text(structure: Any) -> str:
    """`主诉：…` lines from a record's gold sections: `{section: text}` (a value may be
    `{"text": …}`) or MedBench's `[{"type": section, "entity": text}]`."""
    if isinstance(structure, str):
        return structure
    if isinstance(structure, dict):
        pairs = list(structure.items())
    else:
        pairs = [(entry.get("type") or entry.get("section"), entry.get("entity") or entry.get("text"))
                 for entry in structure if isinstance(entry, dict)]
    lines = []
    for section, value in pairs:
        text = value.get("text", "") if isinstance(value, dict) else value
        lines.append(f"{section}：{text if text is not None else ''}")
    return "\n".join(lines)
