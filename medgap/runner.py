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
from medgap.redact import redact
from medgap.scoring import score_with
from medgap.settings import digest
from medgap.solvers.base import Solver, TaskState, default_chain, run_chain
from medgap.solvers.permutations import attempts_for
from medgap.store import Store
from medgap.store.lease import Holder

DEFAULT_MAX_FAILURES = 20
DEFAULT_MAX_REPLY_BYTES = 1_000_000
BATCH_ROWS = 32  # rows committed together at most: a crash or a full disk loses no more than these


class TooManyFailures(RuntimeError):
    """This many items in a row failed, each after the backend's own retries: a wrong endpoint, key
    or model name, or a server that is down. Asking the rest would only fail the same way."""

    def __init__(self, count: int, last_error: str | None) -> None:
        super().__init__(f"{count} items in a row failed (each after its retries); the last error: "
                         f"{redact(last_error or '')}")


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


class RowSink:
    """Persists rows as they arrive. Rows finished during one turn of the event loop are committed
    together in one transaction at the start of the next turn, before any further wait on the
    network, and at most BATCH_ROWS at a time: a crash loses at most the rows of the turn in progress
    (no more than the requests in flight), and a busy run pays for one commit per turn instead of
    one per row. With a lease holder, rows are written only while it holds the run."""

    def __init__(self, store: Store, on_row: Callable[[Row], None], holder: Holder | None = None) -> None:
        self.store = store
        self.on_row = on_row
        self.holder = holder
        self.pending: list[Row] = []
        self.written: list[Row] = []
        self.failure: BaseException | None = None

    def add(self, row: Row) -> None:
        if self.failure is not None:
            raise self.failure
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush_soon)
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:  # a fast backend finishes many rows in one turn
            self.flush()

    def _flush_soon(self) -> None:
        try:
            self.flush()
        except BaseException as exc:  # noqa: BLE001 -- a loop callback cannot raise; the next add() does
            self.failure = exc

    def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        self.store.write_rows(rows, holder=self.holder)
        self.written.extend(rows)
        for row in rows:
            self.on_row(row)


def cap_reply(response: Response, max_bytes: int) -> Response:
    """A reply longer than `max_bytes` (UTF-8) is cut there and marked `truncated`."""
    if not max_bytes or len(response.text) * 4 <= max_bytes:
        return response
    encoded = response.text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return response
    text = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return response.model_copy(update={"text": text, "truncated": True})


def row_settings(config: RunConfig, gen: GenerateConfig) -> dict:
    """What each row records about how it was asked."""
    sent = gen.model_dump(exclude={"timeout_s"})
    return {"model": redact(config.model), **sent, "config_digest": digest(config)}


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
    max_failures: int = DEFAULT_MAX_FAILURES,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    holder: Holder | None = None,
) -> list[Row]:
    """Evaluate `samples`, writing rows into `store` under `config.run_id`; resumes what is missing.
    Returns the rows written by this call. `matcher` (from `medgap.scoring.matching.get_matcher`)
    replaces the default (`medical`) key-point matcher. After `max_failures` failed items in a row
    (0: never; each item counts once, whatever retries the backend made) the run stops with
    TooManyFailures, keeping every row written. Replies are cut at `max_reply_bytes`. With
    `holder`, rows are written only while that lease holder owns the run (else LeaseLost)."""
    progress = progress or Progress()
    solvers = solvers if solvers is not None else default_chain()
    done = store.completed_keys(config.run_id)
    queue: asyncio.Queue = asyncio.Queue()
    total = 0
    for item in pending_attempts(samples, config, done):
        queue.put_nowait(item)
        total += 1
    progress.on_start(total + len(done), len(done))
    sink = RowSink(store, progress.on_row, holder)
    settings = row_settings(config, gen)
    failed_in_a_row = 0

    async def worker() -> None:
        nonlocal failed_in_a_row
        while not queue.empty():
            sample, attempt = queue.get_nowait()
            response, notes = await ask(model, sample, attempt, solvers, gen)
            response = cap_reply(response, max_reply_bytes)
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
                settings=settings,
            )
            sink.add(row)
            failed_in_a_row = failed_in_a_row + 1 if row.errored else 0
            if max_failures and failed_in_a_row >= max_failures:
                raise TooManyFailures(failed_in_a_row, row.response.error)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, total)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:  # one worker failed or the run was interrupted: stop the others too
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        sink.flush()  # also on Ctrl-C: rows that arrived are kept
        await model.aclose()
    if sink.failure is not None:
        raise sink.failure
    return sink.written
