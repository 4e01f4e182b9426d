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
import random
import time
from typing import Any

from medgap.models.base import Model, ModelRequest
from medgap.records import Attempt, Response, Sample

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
        if self.behaviour == "oracle":
            reply = oracle_answer(sample, attempt)
            if reply:
                return reply
        if not letters:
            return "根据题干信息，需要结合临床进一步评估。"
        if self.behaviour == "first":
            return f"答案：{letters[0]}"
        if self.behaviour == "position":
            return f"答案：{letters[min(self.index, len(letters) - 1)]}"
        rng = random.Random(f"{self.seed}:{sample.id}:{attempt.permutation}")
        return f"答案：{rng.choice(letters)}"


def oracle_answer(sample: Sample, attempt: Attempt) -> str:
    """The gold written as an answer, as the item's kind declares it; '' if it has none."""
    from medgap.kinds import spec_for

    reply = spec_for(sample.kind).oracle_reply
    return reply(sample, attempt) if reply else ""
