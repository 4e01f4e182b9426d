"""The default executor: `concurrency` coroutines in this process share one model instance.

Attempts are taken in order, an item's option orders back to back, so a local backend reuses the
KV cache of the shared prompt prefix.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from medgap.executors.base import Record, Work, ask
from medgap.models.base import GenerateConfig, Model
from medgap.solvers.base import Solver

if TYPE_CHECKING:
    from medgap.runner import Progress


class InProcessExecutor:
    def __init__(self, model: Model, solvers: list[Solver], gen: GenerateConfig, concurrency: int) -> None:
        self.model, self.solvers, self.gen, self.concurrency = model, solvers, gen, concurrency

    async def execute(self, work: Work, record: Record, progress: Progress) -> None:
        queue = deque(work)

        async def worker() -> None:
            while queue:
                sample, attempt = queue.popleft()
                response, notes = await ask(self.model, sample, attempt, self.solvers, self.gen)
                await record(sample, attempt, response, notes)

        workers = [asyncio.create_task(worker()) for _ in range(max(1, min(self.concurrency, len(work))))]
        try:
            await asyncio.gather(*workers)
        finally:  # one worker failed or the run was interrupted: stop the others too
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
