"""Run an evaluation: ask every (sample, permutation) not yet stored, score it, persist it at once.

Attempts are queued sample by sample with their permutations back to back, so a local backend
reuses the KV cache of the shared prompt prefix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from medgap.models.base import GenerateConfig, Model, ModelRequest
from medgap.records import Attempt, Response, Row, RunConfig, Sample
from medgap.scoring import score_with
from medgap.solvers.base import Solver, TaskState, default_chain, run_chain
from medgap.solvers.permutations import attempts_for
from medgap.store import Store


@dataclass
class Progress:
    """Callbacks the CLI turns into a progress bar."""

    on_start: Callable[[int, int], None] = lambda total, done: None
    on_row: Callable[[Row], None] = lambda row: None


def pending_attempts(samples: list[Sample], config: RunConfig, done: set[tuple[str, int]]):
    for sample in samples:
        for attempt in attempts_for(sample, config.permutations, config.seed):
            if (sample.id, attempt.permutation) not in done:
                yield sample, attempt


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


async def run_eval(
    config: RunConfig,
    samples: list[Sample],
    model: Model,
    store: Store,
    *,
    gen: GenerateConfig,
    concurrency: int,
    solvers: list[Solver] | None = None,
    progress: Progress | None = None,
    matcher=None,
) -> None:
    """Evaluate `samples`, writing rows into `store` under `config.run_id`; resumes what is missing.
    `matcher` (from `medgap.scoring.matching.get_matcher`) replaces the default lexical key-point matcher."""
    progress = progress or Progress()
    solvers = solvers if solvers is not None else default_chain()
    done = store.completed_keys(config.run_id)
    queue: asyncio.Queue = asyncio.Queue()
    total = 0
    for item in pending_attempts(samples, config, done):
        queue.put_nowait(item)
        total += 1
    progress.on_start(total + len(done), len(done))

    async def worker() -> None:
        while not queue.empty():
            sample, attempt = queue.get_nowait()
            response, notes = await ask(model, sample, attempt, solvers, gen)
            result = await score_with(sample, attempt, response, matcher)
            if notes:
                result.details.update(notes)
            row = Row(
                run_id=config.run_id,
                sample_id=sample.id,
                permutation=attempt.permutation,
                task=sample.task,
                dimension=sample.dimension,
                kind=sample.kind,
                attempt=attempt,
                response=response,
                score=result,
            )
            store.write_row(row)
            progress.on_row(row)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, total)))))
    finally:
        await model.aclose()
