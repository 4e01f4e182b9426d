"""Where a run's model calls happen: in this process (the default) or on Ray actors.

An executor asks each pending (sample, attempt) once and hands every answer, as it arrives, to the
runner's `record` callback, which scores and stores it in the driver process. So resume,
exactly-once storage and the run lease work the same whichever executor asks.
"""

from medgap.executors.base import Answer, Executor, Record, WorkerFailed, ask
from medgap.executors.inprocess import InProcessExecutor

EXECUTORS = ("inprocess", "ray")

__all__ = ["EXECUTORS", "Answer", "Executor", "InProcessExecutor", "Record", "WorkerFailed", "ask"]
