"""What can go wrong with a store, as exceptions whose text is meant for the user: what happened,
where, and what to do. Backends translate their own errors into these."""

from __future__ import annotations

import sqlite3


class StoreError(RuntimeError):
    """The store cannot be read or written (full disk, read-only place, damaged file, ...)."""


class RunNotFound(KeyError):
    def __str__(self) -> str:
        return f"no run {self.args[0]!r} in this database (see `medgap runs`)"


class RunExists(ValueError):
    """A run with this id is already stored (creation is atomic: nothing was written)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"a run {run_id!r} already exists in this database")
        self.run_id = run_id


class RunBusy(RuntimeError):
    """Another live process holds the run's lease."""

    def __init__(self, run_id: str, holder: str, since: str, heartbeat_age_s: float | None) -> None:
        seen = f", last sign of life {heartbeat_age_s:.0f} s ago" if heartbeat_age_s is not None else ""
        super().__init__(f"run {run_id!r} is being run by another process ({holder}, since {since}{seen}); "
                         "wait for it to finish or stop it, or pass another --run-id")
        self.run_id = run_id
        self.holder = holder


class LeaseLost(RuntimeError):
    """This process no longer holds the run (another one took it over): nothing more is written."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} was taken over by another process (this one looked dead to it); "
                         "this process stopped writing to it")


# SQLite's primary result codes (sqlite_errorname starts with them) -> what to tell the user
SQLITE_ADVICE = {
    "SQLITE_FULL": "the disk is full. Rows committed so far are kept; free some space, then run the same "
                   "command again to resume",
    "SQLITE_READONLY": "it cannot be written (read-only file, folder or file system). Make it writable, "
                       "or pass another --db",
    "SQLITE_CANTOPEN": "it cannot be opened (missing folder, or no permission to create files there). "
                       "Check the path, or pass another --db",
    "SQLITE_NOTADB": "it is not a medgap database, or it is damaged. Restore it from a copy, or pass another "
                     "--db",
    "SQLITE_CORRUPT": "the file is damaged (corrupted or truncated). Restore it from a copy, or pass another "
                      "--db (`sqlite3 FILE .recover` can save what is readable)",
    "SQLITE_BUSY": "another process keeps it locked. Try again when it is done",
    "SQLITE_LOCKED": "another process keeps it locked. Try again when it is done",
    "SQLITE_IOERR": "the disk reported an input/output error (full, removed or failing). Check it, then "
                    "run the same command again to resume",
    "SQLITE_PERM": "this process may not write it. Check its permissions, or pass another --db",
}


def sqlite_error(exc: BaseException, where: str) -> StoreError:
    """A StoreError naming `where` for an sqlite3 (or OS) error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    advice = next((text for code, text in SQLITE_ADVICE.items() if name.startswith(code)), None)
    if advice is None:
        advice = guess_advice(str(exc))
    return StoreError(f"database {where}: {advice} (SQLite: {exc})")


def guess_advice(message: str) -> str:
    lowered = message.lower()
    for fragment, code in (("disk is full", "SQLITE_FULL"), ("readonly", "SQLITE_READONLY"),
                           ("read-only", "SQLITE_READONLY"), ("unable to open", "SQLITE_CANTOPEN"),
                           ("not a database", "SQLITE_NOTADB"), ("malformed", "SQLITE_CORRUPT"),
                           ("locked", "SQLITE_BUSY"), ("i/o error", "SQLITE_IOERR"),
                           ("no space", "SQLITE_FULL"), ("permission", "SQLITE_PERM")):
        if fragment in lowered:
            return SQLITE_ADVICE[code]
    return "it could not be read or written. Check the file and the disk it is on"


STORAGE_ERRORS = (sqlite3.Error, OSError)
