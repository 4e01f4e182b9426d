"""How llama.cpp runs on this machine: its OpenMP wait policy, thread counts shared between medgap
processes, and the CPU facts a build depends on.

Threads. llama.cpp splits every operation of a forward pass across its threads and makes them meet
at a barrier after each one (hundreds per token). With more runnable threads than cores, a thread
that arrives first and spins keeps the core from the thread it waits for, and two runs at once
take far more than twice the time of one. So:

- threads wait passively (`OMP_WAIT_POLICY=PASSIVE`, unless the user set it): a waiting thread
  sleeps and gives its core back;
- each request shares the physical cores among the medgap processes computing at that moment
  (`CoreShare`): two runs at once get half the cores each.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path

SLOT_LIMIT = 256  # more medgap processes than this computing at once share as if there were this many


def configure_openmp() -> None:
    """Before llama_cpp is imported (libgomp reads its settings once, when it is loaded)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def llama_cpp_version() -> str | None:
    try:
        return importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return None


def available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int] | None = None, sys_cpu: Path = Path("/sys/devices/system/cpu")) -> int:
    """Cores this process may use, counting a core's hyper-threads once (llama.cpp's matrix kernels
    gain nothing from a second thread on the same core)."""
    cpus = available_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topology = sys_cpu / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology: count the CPU as a core
    return max(1, len(cores))


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model and instruction-set flags (what a natively compiled llama.cpp depends on)."""
    try:
        lines = cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        import platform

        return f"{platform.machine()} {platform.processor()}"
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return f"{fields.get('model name', '?')} | {fields.get('flags', fields.get('Features', ''))}"


class CoreShare:
    """The medgap processes computing with llama.cpp right now, counted through lock files.

    A process holds an exclusive `flock` on one slot file while a request runs; the others are
    counted by trying theirs. The kernel drops a lock when its process ends, so a crashed or killed
    run never counts as busy.
    """

    def __init__(self, folder: Path, cores: int) -> None:
        self.folder = folder
        self.cores = cores

    @contextlib.contextmanager
    def share(self, most: int) -> Iterator[int]:
        """Hold a slot while the body runs; yields the threads to use: this process's share of the
        cores, at most `most`."""
        slot = self._take_slot()
        try:
            busy = 1 + self._others_busy(slot[0] if slot else -1)
            yield max(1, min(most, self.cores // busy))
        finally:
            if slot:
                os.close(slot[1])  # closing the descriptor releases the lock

    def _take_slot(self) -> tuple[int, int] | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for index in range(SLOT_LIMIT):
                fd = os.open(self.folder / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return index, fd
                except BlockingIOError:
                    os.close(fd)
        except OSError:  # an unwritable cache folder: run as if alone
            pass
        return None

    def _others_busy(self, mine: int) -> int:
        busy = 0
        for index in range(SLOT_LIMIT):
            if index == mine:
                continue
            try:
                fd = os.open(self.folder / f"slot-{index}.lock", os.O_RDWR)
            except OSError:
                break  # slot files are made lowest first and kept: none beyond the first missing one
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                busy += 1
            finally:
                os.close(fd)
        return busy
