"""Run an evaluation: ask every (sample, permutation) not yet stored, score it, persist it at once.

Attempts are queued sample by sample with their permutations back to back, so a local backend
reuses the KV cache of the shared prompt prefix.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import dataclass

from medgap.executors import Executor, InProcessExecutor, ask  # noqa: F401 -- ask: the runner's one call per attempt
from medgap.models.base import GenerateConfig, Model
from medgap.records import Attempt, Response, Row, RunConfig, Sample
from medgap.redact import env_secrets, known_secrets, redact
from medgap.scoring import score_with
from medgap.settings import digest
from medgap.solvers.base import Solver, default_chain
from medgap.solvers.permutations import attempts_for
from medgap.store import Store
from medgap.store.lease import Holder

DEFAULT_MAX_FAILURES = 20
DEFAULT_MAX_REPLY_BYTES = 1_000_000
BATCH_ROWS = 32  # rows committed together at most: a crash or a full disk loses no more than these
# Event-loop turns a row waits for others to share its commit (never a wait on the network). Against an
# instant local server three turns make a third of the commits (3 % off `medgap run`'s time); from an
# API rows arrive far apart and each is committed at once.
FLUSH_TURNS = 3


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
    #: a worker of a distributed executor started, was replaced (`note`), or sent `rows` answers
    on_worker: Callable[[str, int, str], None] = lambda worker, rows, note: None


def pending_attempts(samples: list[Sample], config: RunConfig, done: set[tuple[str, int]]):
    for sample in samples:
        for attempt in attempts_for(sample, config.permutations, config.seed):
            if (sample.id, attempt.permutation) not in done:
                yield sample, attempt


class RowSink:
    """Persists rows as they arrive. A row is committed, with the rows that arrive meanwhile, once the
    event loop has run FLUSH_TURNS more turns of what was already ready: the loop never waits for the
    network in between (a pending callback makes it poll without blocking), so a row from a slow API
    is committed at once, while under a fast server a few turns' rows share one transaction instead
    of paying a commit each. Never more than BATCH_ROWS wait: a crash loses at most those (no more
    than the requests in flight). With a lease holder, rows are written only while it holds the run."""

    def __init__(self, store: Store, on_row: Callable[[Row], None], holder: Holder | None = None) -> None:
        self.store = store
        self.on_row = on_row
        self.holder = holder
        self.pending: list[Row] = []
        self.written: list[Row] = []
        self.failure: BaseException | None = None
        self.env_secrets = env_secrets()  # read once a run: scanning the environment costs 0.1 ms a batch

    def add(self, row: Row) -> None:
        if self.failure is not None:
            raise self.failure
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush_soon)
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:  # a fast backend finishes many rows in one turn
            self.flush()

    def _flush_soon(self, turns: int = FLUSH_TURNS) -> None:
        if turns > 1:
            asyncio.get_running_loop().call_soon(self._flush_soon, turns - 1)
            return
        try:
            self.flush()
        except BaseException as exc:  # noqa: BLE001 -- a loop callback cannot raise; the next add() does
            self.failure = exc

    def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        self.store.write_rows(rows, holder=self.holder, secrets=known_secrets(self.env_secrets))
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


class Recorder:
    """Scores each answer as it arrives (in the driver, whichever executor asked), stores it
    through the sink, and stops the run after `max_failures` failed rows in a row (0: never)."""

    def __init__(self, config: RunConfig, gen: GenerateConfig, sink: RowSink, matcher=None,
                 max_failures: int = DEFAULT_MAX_FAILURES, max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        self.config, self.sink, self.matcher, self.max_failures = config, sink, matcher, max_failures
        self.max_reply_bytes = max_reply_bytes
        self.settings = row_settings(config, gen)
        self.failed_in_a_row = 0

    async def __call__(self, sample: Sample, attempt: Attempt, response: Response, notes: dict) -> Row:
        response = cap_reply(response, self.max_reply_bytes)
        result = await score_with(sample, attempt, response, self.matcher)
        if notes:
            result.details.update(notes)
        row = Row(
            run_id=self.config.run_id,
            sample_id=sample.id,
            permutation=attempt.permutation,
            task=sample.task,
            dimension=sample.dimension,
            kind=sample.kind,
            attempt=attempt,
            response=response,
            score=result,
            settings=self.settings,
        )
        self.sink.add(row)
        self.failed_in_a_row = self.failed_in_a_row + 1 if row.errored else 0
        if self.max_failures and self.failed_in_a_row >= self.max_failures:
            raise TooManyFailures(self.failed_in_a_row, row.response.error)
        return row


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
    executor: Executor | None = None,
) -> list[Row]:
    """Evaluate `samples`, writing rows into `store` under `config.run_id`; resumes what is missing.
    Returns the rows written by this call. `matcher` (from `medgap.scoring.matching.get_matcher`)
    replaces the default (`medical`) key-point matcher. After `max_failures` failed items in a row
    (0: never; each item counts once, whatever retries the backend made) the run stops with
    TooManyFailures, keeping every row written. Replies are cut at `max_reply_bytes`. With
    `holder`, rows are written only while that lease holder owns the run (else LeaseLost).
    `executor` asks the model calls (default: `concurrency` coroutines in this process on
    `model`); answers are scored and stored here, in the driver, as they arrive."""
    progress = progress or Progress()
    solvers = solvers if solvers is not None else default_chain()
    done = store.completed_keys(config.run_id)
    work = list(pending_attempts(samples, config, done))
    progress.on_start(len(work) + len(done), len(done))
    sink = RowSink(store, progress.on_row, holder)
    record = Recorder(config, gen, sink, matcher, max_failures, max_reply_bytes)
    executor = executor or InProcessExecutor(model, solvers, gen, concurrency)
    # What exists now (modules, the items, the config) lives until the run ends: frozen, it is not
    # traversed by the collections the rows set off (a full one took 60 ms of a 1 s run), and it is
    # handed back to the collector afterwards.
    gc.freeze()
    try:
        await executor.execute(work, record, progress)
    finally:
        gc.unfreeze()
        sink.flush()  # also on Ctrl-C: rows that arrived are kept
        await model.aclose()
    if sink.failure is not None:
        raise sink.failure
    return sink.written
