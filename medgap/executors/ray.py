"""Ask a run's attempts on Ray actors, each holding one model instance; the driver scores and stores.

    executor = RayExecutor(config, gen, workers=4, concurrency=16, model_options={"base_url": ...})
    await run_eval(config, samples, backend, store, gen=gen, concurrency=16, executor=executor)

The pending attempts are cut into batches (in order, an item's option orders together, so a local
model reuses its KV cache). Each worker takes the next batch from a queue shared by all workers; the
actor answers it with its share of the concurrency (and of `max_rps`) and yields answers back as soon
as they are ready, a few at a time. The driver records each answer the moment it arrives, so a crash
of the driver loses no more than in one process. When an actor dies (its process or node is gone),
the attempts of its batch that had not come back go to the front of the queue and a new actor takes
its place: nothing received is asked again, nothing is lost. A batch whose actor dies `max_tries`
times in a row, or an actor that cannot start, stops the run (stored rows are kept; resume asks the
rest).

`local/` workers reserve `n_threads` CPUs each in Ray (`local/default?n_threads=4`; default 1) and
run llama.cpp on that many threads, so workers spread over the nodes without oversubscribing them.
Every node needs medgap (same version) and what the model needs (the GGUF, llama-cpp-python).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medgap import __version__
from medgap.executors.base import Answer, Record, Work, WorkerFailed, ask
from medgap.models import get_model, parse_model_name
from medgap.models.base import GenerateConfig
from medgap.records import Attempt, RunConfig, Sample

if TYPE_CHECKING:
    from medgap.runner import Progress

INSTALL_HINT = "pip install 'medgap[distributed]'"
DEFAULT_MAX_TRIES = 3
BATCH_PER_CONCURRENCY = 4  # a batch keeps a worker's concurrency busy a few times over
BATCHES_PER_WORKER = 4  # ... but a small run still gives each worker several batches to balance


def require_ray():
    try:
        import ray
    except ImportError:
        raise ImportError(f"--executor ray needs Ray: {INSTALL_HINT}") from None
    return ray


def split(total: int, parts: int, index: int) -> int:
    """The `index`-th of `parts` near-equal integer shares of `total` (at least 1)."""
    return max(1, total // parts + (1 if index < total % parts else 0))


def worker_options(model: str, options: dict[str, Any], workers: int, index: int, concurrency: int) -> dict[str, Any]:
    """Model options of worker `index`: its share of the concurrency and of the request rate."""
    provider, _, query = parse_model_name(model)
    mine = {**query, **{k: v for k, v in options.items() if v is not None}}
    mine["max_concurrency"] = split(concurrency, workers, index)
    if mine.get("max_rps"):
        mine["max_rps"] = float(mine["max_rps"]) / workers
    if provider == "local":
        mine["n_threads"] = int(mine.get("n_threads") or 1)
    return mine


def actor_resources(model: str, options: dict[str, Any]) -> dict[str, Any]:
    """Ray placement: a local model reserves the cores it computes on; API and mock workers wait on
    the network and reserve none."""
    if parse_model_name(model)[0] == "local":
        return {"num_cpus": options["n_threads"]}
    return {"num_cpus": 0}


class ModelWorker:
    """The Ray actor: one model instance and the run's solver chain, answering batches of attempts."""

    def __init__(self, model: str, options: dict[str, Any], config_json: str, gen_json: str) -> None:
        from medgap.evaluate import chain_for

        options = dict(options)
        cap = options.pop("max_reply_bytes", None)  # set on the backend, as `open_backend` does
        self.model = get_model(model, **options)
        self.model.max_reply_bytes = cap
        self.concurrency = int(options["max_concurrency"])
        self.chain = chain_for(RunConfig.model_validate_json(config_json))
        self.gen = GenerateConfig.model_validate_json(gen_json)

    def ready(self) -> dict[str, Any]:
        import ray

        return {"version": __version__, "pid": os.getpid(), "node": ray.util.get_node_ip_address()}

    async def answer(self, items: list[tuple[int, Sample, Attempt]]):
        """Answer `items` (in order, `concurrency` at a time); yield lists of Answers as they complete."""
        queue = deque(items)
        done: asyncio.Queue[Answer] = asyncio.Queue()

        async def worker() -> None:
            while queue:
                index, sample, attempt = queue.popleft()
                response, notes = await ask(self.model, sample, attempt, self.chain, self.gen)
                done.put_nowait(Answer(index, attempt, response, notes))

        tasks = [asyncio.create_task(worker()) for _ in range(max(1, min(self.concurrency, len(items))))]
        remaining = len(items)
        try:
            while remaining:
                chunk = [await next_answer(done, tasks)]
                while not done.empty():
                    chunk.append(done.get_nowait())
                remaining -= len(chunk)
                yield chunk
        finally:
            for task in tasks:
                task.cancel()


async def next_answer(done: asyncio.Queue, tasks: list[asyncio.Task]) -> Answer:
    """The next answer; raises what a worker task raised instead of waiting for ever."""
    getter = asyncio.ensure_future(done.get())
    while True:
        finished, _ = await asyncio.wait([getter, *[t for t in tasks if not t.done()]],
                                         return_when=asyncio.FIRST_COMPLETED)
        if getter in finished:
            return getter.result()
        for task in finished:
            error = task.exception()
            if error is not None:
                getter.cancel()
                raise error


@dataclass
class Slot:
    """One worker as the driver sees it: the current actor and what it has done."""

    name: str
    index: int
    actor: Any = None
    where: str = ""
    rows: int = 0
    replaced: int = 0


@dataclass
class Batch:
    indices: list[int]
    tries: int = 0
    received: set[int] = field(default_factory=set)


class RayExecutor:
    """`workers` Ray actors, each with one model instance, fed batches from one shared queue."""

    def __init__(self, config: RunConfig, gen: GenerateConfig, *, workers: int | None, concurrency: int,
                 model_options: dict[str, Any] | None = None, address: str | None = None,
                 batch_size: int | None = None, max_tries: int = DEFAULT_MAX_TRIES) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1, not {workers}")
        self.config, self.gen, self.workers, self.concurrency = config, gen, workers, concurrency
        self.model_options = dict(model_options or {})
        self.address = address
        self.batch_size = batch_size
        self.max_tries = max_tries
        self.slots: list[Slot] = []
        self.startup_s = 0.0  # how long the last execute() waited for its actors to start
        self.work: Work = []  # what the last execute() asked, in order (`resent` indexes it)
        self.resent: list[int] = []  # indices of attempts handed to a new actor after one died
        self._actor_class: Any = None

    # actors ---------------------------------------------------------------------------------------
    def _new_actor(self, slot: Slot) -> Any:
        ray = require_ray()
        if self._actor_class is None:
            self._actor_class = ray.remote(max_restarts=0)(ModelWorker)
        assert self.workers is not None  # execute() settles the number of workers before starting any
        options = worker_options(self.config.model, self.model_options, self.workers, slot.index, self.concurrency)
        return self._actor_class.options(**actor_resources(self.config.model, options)).remote(
            self.config.model, options, self.config.model_dump_json(), self.gen.model_dump_json())

    async def _start(self, slot: Slot, progress: Progress, note: str = "") -> None:
        ray = require_ray()
        slot.actor = self._new_actor(slot)
        try:
            info = await slot.actor.ready.remote()
        except ray.exceptions.RayActorError as exc:
            raise WorkerFailed(f"{slot.name} could not start: {cause_of(exc)}") from None
        if info["version"] != __version__:
            raise WorkerFailed(f"{slot.name} on {info['node']} runs medgap {info['version']}, "
                               f"the driver {__version__}; install the same version on every node")
        slot.where = f"pid {info['pid']} on {info['node']}"
        progress.on_worker(slot.name, 0, f"{slot.where}{note}")

    # the run --------------------------------------------------------------------------------------
    async def execute(self, work: Work, record: Record, progress: Progress) -> None:
        ray = require_ray()
        self.work = work
        started_here = connect(ray, self.address)
        self.workers = self.workers or default_workers(ray, self.config.model, self.model_options)
        size = self.batch_size or batch_size(len(work), self.workers, split(self.concurrency, self.workers, 0))
        batches = deque(Batch(indices) for indices in cut(work, size))
        self.slots = [Slot(f"worker {i + 1}", i) for i in range(min(self.workers, max(1, len(batches))))]
        tasks: list[asyncio.Task] = []
        try:
            if batches:
                started = time.perf_counter()
                await asyncio.gather(*(self._start(slot, progress) for slot in self.slots))
                self.startup_s = time.perf_counter() - started
                tasks = [asyncio.create_task(self._drive(slot, batches, work, record, progress))
                         for slot in self.slots]
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for slot in self.slots:
                if slot.actor is not None:
                    ray.kill(slot.actor)
            if started_here:
                ray.shutdown()

    async def _drive(self, slot: Slot, batches: deque[Batch], work: Work, record: Record, progress: Progress) -> None:
        ray = require_ray()
        while batches:
            batch = batches.popleft()
            items = [(i, *work[i]) for i in batch.indices if i not in batch.received]
            try:
                async for ref in slot.actor.answer.remote(items):
                    for answer in await ref:
                        if answer.index in batch.received:
                            continue  # never stored twice
                        batch.received.add(answer.index)
                        sample, _ = work[answer.index]
                        await record(sample, answer.attempt, answer.response, answer.notes)
                        slot.rows += 1
                        progress.on_worker(slot.name, 1, "")
            except ray.exceptions.RayActorError as exc:
                if exc.actor_init_failed:
                    raise WorkerFailed(f"{slot.name} could not start: {cause_of(exc)}") from None
                await self._replace(slot, batch, batches, exc, progress)
            except ray.exceptions.RayTaskError as exc:  # medgap code raised on the worker: as in one process
                raise exc.as_instanceof_cause() from None

    async def _replace(self, slot: Slot, batch: Batch, batches: deque[Batch], exc: Exception,
                       progress: Progress) -> None:
        """The actor died: its unanswered attempts go first in the queue, a new actor takes its place."""
        missing = [i for i in batch.indices if i not in batch.received]
        if missing:
            batch.tries += 1
            if batch.tries >= self.max_tries:
                raise WorkerFailed(f"{len(missing)} attempts lost their worker {batch.tries} times in a row; "
                                   f"the last time: {cause_of(exc)}")
            self.resent.extend(missing)
            batches.appendleft(Batch(missing, batch.tries))
        require_ray().kill(slot.actor)  # an unreachable actor may still be running: it must not answer twice
        slot.replaced += 1
        await self._start(slot, progress, f" (replaced {slot.replaced}×, {len(missing)} attempts sent again)")


def batch_size(attempts: int, workers: int, per_worker_concurrency: int) -> int:
    balanced = -(-attempts // (BATCHES_PER_WORKER * workers))
    return max(1, min(BATCH_PER_CONCURRENCY * per_worker_concurrency, balanced))


def cut(work: Work, size: int) -> list[list[int]]:
    """Indices of `work` in batches of about `size`, never splitting an item's option orders (a
    local worker reuses the KV cache of the question they share)."""
    batches: list[list[int]] = []
    for index, (sample, _) in enumerate(work):
        if not batches or (len(batches[-1]) >= size and work[batches[-1][-1]][0].id != sample.id):
            batches.append([])
        batches[-1].append(index)
    return batches


def default_workers(ray: Any, model: str, options: dict[str, Any]) -> int:
    """As many workers as the cluster has CPUs (local models: CPUs / threads per worker)."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    threads = worker_options(model, options, 1, 0, 1).get("n_threads", 1)
    return max(1, cpus // threads)


def cause_of(exc: Exception) -> str:
    """The line of a Ray error that says why: its last one (the exception raised on the worker, or
    how the actor died), without terminal colours."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


@contextlib.contextmanager
def cluster(address: str | None = None) -> Iterator[None]:
    """Keep one Ray connection for several runs (the arms of an experiment), not one per run."""
    ray = require_ray()
    started_here = connect(ray, address)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address` ($RAY_ADDRESS, or a new local one when neither is set); True
    when this call started Ray (and so shuts it down after the run)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local cluster"
        raise WorkerFailed(f"cannot start Ray workers ({where}): {cause_of(exc)}") from None
    return True
