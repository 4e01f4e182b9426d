"""Run ownership: one process at a time asks a run's items and writes its rows.

A process takes a run's lease in the store with one atomic statement (the run is free, or its holder
is dead); it names itself `host:pid:start` (the start time of the process tells a reused pid apart).
A holder is dead when it ran on this host and that process is gone, or, on another host, when its
heartbeat is older than STALE_AFTER_S. A thread renews the heartbeat every HEARTBEAT_S while the run
goes on; the lease is released with the run's status when the process ends the run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, Self

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0

Status = Literal["running", "stopped", "complete", "failed"]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


def process_start(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc), or "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2:].split()[19]  # field 22 of proc(5), counted after the command name


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    start: str

    @classmethod
    def me(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()))

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    def alive(self) -> bool | None:
        """Whether this process still runs: None when it ran on another host (only its heartbeat tells)."""
        if self.host != socket.gethostname():
            return None
        if Path("/proc/self/stat").exists():
            return bool(self.start) and process_start(self.pid) == self.start
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@dataclass(frozen=True)
class LeaseState:
    """A run's row in the lease table."""

    run_id: str
    status: str
    holder: Holder | None
    since: float | None
    heartbeat: float | None
    message: str | None = None
    attempts: int | None = None  # how many (item, option order) pairs the run asks

    def holder_dead(self, now: float | None = None) -> bool:
        if self.holder is None:
            return True
        alive = self.holder.alive()
        if alive is not None:
            return not alive
        return self.heartbeat is None or (now or time.time()) - self.heartbeat > STALE_AFTER_S

    def shown_status(self) -> str:
        """running / stopped / complete / failed: a holder that died without releasing the run failed."""
        if self.holder is not None:
            return "failed" if self.holder_dead() else "running"
        return self.status


def stamp(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


class LeaseStore(Protocol):
    """What a store backend provides for leases."""

    def acquire(self, run_id: str, holder: Holder) -> None: ...
    def heartbeat(self, run_id: str, holder: Holder) -> bool: ...
    def release(self, run_id: str, holder: Holder, status: str, message: str | None = None) -> None: ...
    def run_state(self, run_id: str) -> LeaseState | None: ...
    def reopen(self) -> LeaseStore: ...
    def close(self) -> None: ...


class Lease:
    """The lease of one run, held by this process: `with Lease(store, run_id) as lease: ...`.

    Set `lease.status` (and `lease.message`) before leaving; leaving by an exception records `failed`
    unless the status was set. With `keep_status` (work on a run that is not asking it, e.g. a rescore)
    the run's status and message are put back as they were. `lease.lost` turns true if another process
    took the run over."""

    def __init__(self, store: LeaseStore, run_id: str, holder: Holder | None = None,
                 heartbeat_s: float = HEARTBEAT_S, keep_status: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self.holder = holder or Holder.me()
        self.heartbeat_s = heartbeat_s
        self.keep_status = keep_status
        self.status: str | None = None
        self.message: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.keep_status:
            prior = self.store.run_state(self.run_id)
            self.status, self.message = (prior.status, prior.message) if prior else ("stopped", None)
        self.store.acquire(self.run_id, self.holder)
        self._thread = threading.Thread(target=self._beat, name="medgap-lease", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        try:
            other = self.store.reopen()
        except Exception:  # noqa: BLE001 -- a heartbeat that cannot connect leaves the lease to the pid check
            return
        try:
            while not self._stop.wait(self.heartbeat_s):
                try:
                    if not other.heartbeat(self.run_id, self.holder):
                        self.lost = True
                        return
                except Exception:  # noqa: BLE001, S112 -- a busy or full disk: try again at the next beat
                    continue
        finally:
            other.close()

    def __exit__(self, kind, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        status = self.status or ("failed" if kind is not None else "stopped")
        message = self.message if self.status is not None else (str(exc)[:500] if exc is not None else None)
        try:
            self.store.release(self.run_id, self.holder, status, message)
        except Exception:  # noqa: BLE001, S110 -- e.g. a full disk: the lease then reads as held by a dead process
            pass
