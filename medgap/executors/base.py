"""The executor interface, and `ask`: the one call a worker makes per attempt."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from medgap.models.base import GenerateConfig, Model, ModelRequest
from medgap.records import Attempt, Response, Row, Sample
from medgap.solvers.base import Solver, TaskState, run_chain

if TYPE_CHECKING:
    from medgap.runner import Progress

#: scores and stores one answer in the driver; returns the row written
Record = Callable[[Sample, Attempt, Response, dict[str, Any]], Awaitable[Row]]
Work = list[tuple[Sample, Attempt]]


@dataclass
class Answer:
    """What a worker sends back for the attempt at `index` of the work list: the attempt as the
    solver chain left it (with the messages sent), the response, and the chain's notes."""

    index: int
    attempt: Attempt
    response: Response
    notes: dict[str, Any] = field(default_factory=dict)


class WorkerFailed(RuntimeError):
    """Remote workers could not answer: one that cannot start, or attempts whose worker died too
    often. The rows stored so far are kept; resume asks the rest."""


class Executor(Protocol):
    async def execute(self, work: Work, record: Record, progress: Progress) -> None:
        """Ask every attempt of `work` and `await record(...)` each answer as it arrives."""


async def ask(model: Model, sample: Sample, attempt: Attempt, solvers: list[Solver], gen: GenerateConfig):
    """Run the solver chain for one attempt; any failure becomes a recorded error, not an exception."""

    async def generate(state: TaskState) -> TaskState:
        request = ModelRequest(messages=state.messages, config=state.config, attempt=state.attempt, sample=sample)
        started = time.perf_counter()
        try:
            state.response = await model.generate(request)
        except Exception as exc:  # noqa: BLE001 -- a backend bug is recorded (retried on resume), not fatal
            state.response = Response(error=f"{type(exc).__name__}: {exc}")
        if not state.response.latency_s:
            state.response.latency_s = time.perf_counter() - started
        return state

    state = TaskState(sample=sample, attempt=attempt, config=gen)
    state = await run_chain(solvers, state, generate)
    attempt.messages = state.messages
    response = state.response or Response(error="no model call was made by the solver chain")
    return response, state.notes
