"""What can go wrong with a store, as exceptions whose text is meant for the user: what happened,
where, and what to do. Backends translate their own errors into these."""

from __future__ import annotations

import sqlite3
import sys


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


# PostgreSQL SQLSTATE codes (or their two-letter class) -> what to tell the user
POSTGRES_ADVICE = {
    "08": "the server cannot be reached. Check the URL, that the server is running and that this machine may "
          "connect to it",
    "28": "the server refused the user name or password. Check the URL, or $PGPASSWORD / ~/.pgpass",
    "3D000": "that database does not exist on the server. Create it (`createdb NAME`) or fix the URL",
    "42501": "this user may not read or write medgap's tables. Grant it the rights, or use another user",
    "53100": "the server's disk is full. Rows committed so far are kept; free some space, then run the same "
             "command again to resume",
    "53": "the server ran out of a resource (memory, connections). Try again when it is less busy",
    "25006": "the server only allows reading here (a read-only replica?). Pass the primary's URL",
    "57P": "the server is shutting down or starting. Try again in a moment",
}


def storage_error(exc: BaseException, where: str) -> StoreError:
    """A StoreError naming `where` for an error of the database (SQLite, PostgreSQL) or the OS."""
    if type(exc).__module__.startswith("psycopg"):
        return postgres_error(exc, where)
    return sqlite_error(exc, where)


def postgres_error(exc: BaseException, where: str) -> StoreError:
    code = getattr(exc, "sqlstate", None) or ""
    advice = next((text for prefix, text in POSTGRES_ADVICE.items() if code.startswith(prefix)), None)
    if advice is None:
        connecting = type(exc).__name__ == "OperationalError"
        advice = POSTGRES_ADVICE["08"] if connecting else "the statement failed. Check the server's log"
    detail = " ".join(str(exc).split())
    return StoreError(f"database {where}: {advice} (PostgreSQL: {detail})")


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


def storage_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a database raises (for `except storage_errors():`, evaluated only on an error).
    PostgreSQL's driver is imported only by a store on a server, so its errors exist only then."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, OSError, psycopg.Error) if psycopg else (sqlite3.Error, OSError)
