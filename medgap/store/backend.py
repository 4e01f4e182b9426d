"""The two databases a store can live in, behind one connection interface: a SQLite file (the
default) or a PostgreSQL server (`--db postgresql://user@host/dbname`, `pip install 'medgap[distributed]'`).

The store's SQL is written once, in the subset both understand (`INSERT ... ON CONFLICT`, `?` and
`:name` parameters); the PostgreSQL connection translates the parameter style. A connection is
used as `with db: db.begin(); ...` for a transaction (committed at the end of the block, rolled back
on an exception) and `db.execute(...)` for a single autocommitted statement.

The schema is versioned: `migrate` applies, in one transaction, every step newer than the version
the database records, so an older file or server upgrades itself the first time a newer medgap opens it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from medgap.store.errors import StoreError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
BUSY_TIMEOUT_MS = 15_000

# Each step: (version, what it adds, statements). Statements are idempotent (IF NOT EXISTS), so a
# database made before versions were recorded (version 0) upgrades safely. Append; never edit a step.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "runs, their items and one row per (item, option order)", [
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            suite TEXT NOT NULL,
            created TEXT NOT NULL,
            config TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS samples (
            run_id TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            sample TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id))""",
        """CREATE TABLE IF NOT EXISTS rows (
            run_id TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            permutation INTEGER NOT NULL,
            dimension TEXT NOT NULL,
            task TEXT NOT NULL,
            kind TEXT NOT NULL,
            value DOUBLE PRECISION,
            error TEXT,
            row TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id, permutation))""",
    ]),
    (2, "each run's lease and status", [
        """CREATE TABLE IF NOT EXISTS run_state (
            run_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            holder TEXT,
            host TEXT,
            pid INTEGER,
            proc_start TEXT,
            since DOUBLE PRECISION,
            heartbeat DOUBLE PRECISION,
            message TEXT,
            attempts INTEGER)""",
    ]),
    (3, "error labels: pre-labels, annotators, the items put to them, labels, adjudications", [
        """CREATE TABLE IF NOT EXISTS error_prelabels (
            run_id TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            permutation INTEGER NOT NULL,
            digest TEXT NOT NULL,
            category TEXT NOT NULL,
            label TEXT NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id, permutation))""",
        """CREATE TABLE IF NOT EXISTS annotators (
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            finished TEXT,
            created TEXT NOT NULL,
            PRIMARY KEY (run_id, name))""",
        """CREATE TABLE IF NOT EXISTS annotation_items (
            run_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            sample_id TEXT NOT NULL,
            permutation INTEGER NOT NULL,
            PRIMARY KEY (run_id, sample_id, permutation))""",
        """CREATE TABLE IF NOT EXISTS error_labels (
            run_id TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            permutation INTEGER NOT NULL,
            annotator TEXT NOT NULL,
            category TEXT NOT NULL,
            secondary TEXT NOT NULL,
            note TEXT NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id, permutation, annotator))""",
        """CREATE TABLE IF NOT EXISTS error_adjudications (
            run_id TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            permutation INTEGER NOT NULL,
            adjudicator TEXT NOT NULL,
            category TEXT NOT NULL,
            secondary TEXT NOT NULL,
            note TEXT NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id, permutation))""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS medgap_schema (version INTEGER NOT NULL)"
MIGRATION_LOCK = 0x6D65646761  # pg_advisory_xact_lock key: one process migrates at a time


class SchemaTooNew(StoreError):
    def __init__(self, where: str, version: int) -> None:
        super().__init__(f"database {where} has schema version {version}, made by a newer medgap; this one "
                         f"knows up to {SCHEMA_VERSION}. Upgrade medgap (pip install -U medgap)")


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def shown(location: str | Path) -> str:
    """The location as printed: a server URL without its password (`postgresql://bob@host/db` still
    connects, with the password from $PGPASSWORD or ~/.pgpass), and nothing else secret."""
    text = str(location)
    if not is_postgres(text):
        return text
    parts = urlsplit(text)
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
        text = urlunsplit(parts._replace(netloc=netloc))
    return redact_query(text)


def redact_query(url: str) -> str:
    """`?password=...` (libpq takes it there too) without the value."""
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1[redacted]", url)


class SqliteDB:
    """A SQLite file in WAL mode: a crash (even kill -9) keeps every committed transaction."""

    kind = "SQLite"
    for_update = ""  # BEGIN IMMEDIATE already holds the one write lock

    def __init__(self, path: str | Path) -> None:
        self.conn = sqlite3.connect(Path(path), isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._wal()
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def _wal(self) -> None:
        """Switch a new file to WAL. Processes making the same new file at once each need a moment
        alone for that (SQLite answers "locked" at once here, without waiting): retry for a while."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def begin(self) -> None:
        """Start a transaction that takes the write lock at once (no upgrade deadlock later)."""
        self.conn.execute("BEGIN IMMEDIATE")

    def has_table(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (name,)).fetchone() is not None

    def stream(self, sql: str, params: Any = ()) -> Iterator[tuple]:
        yield from self.conn.execute(sql, params)

    def __enter__(self) -> Self:
        self.conn.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.conn.__exit__(kind, exc, tb)

    def close(self) -> None:
        self.conn.close()


NAMED = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def to_pyformat(sql: str) -> str:
    """`?` and `:name` parameters as psycopg writes them (`%s`, `%(name)s`); a literal `%` doubled."""
    sql = sql.replace("%", "%%")
    return NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))


class PostgresDB:
    """A PostgreSQL database. Statements autocommit unless inside `with db: db.begin()`; one lock
    keeps the transactions of threads sharing this connection (a web server's) apart."""

    kind = "PostgreSQL"
    for_update = " FOR UPDATE"  # hold the row to the end of the transaction (a lease checked stays held)

    def __init__(self, url: str) -> None:
        psycopg = require_psycopg()
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self.lock = threading.RLock()
        self._sql: dict[str, str] = {}

    def _translate(self, sql: str) -> str:
        if sql not in self._sql:
            self._sql[sql] = to_pyformat(sql)
        return self._sql[sql]

    def execute(self, sql: str, params: Any = ()) -> Any:
        with self.lock:
            return self.conn.execute(self._translate(sql), params) if params else self.conn.execute(sql)

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
        with self.lock:
            cursor = self.conn.cursor()
            cursor.executemany(self._translate(sql), list(rows))
            return cursor

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(?)", (name,)).fetchone()[0] is not None

    def stream(self, sql: str, params: Any = ()) -> Iterator[tuple]:
        """Rows as the server sends them, on a connection of their own: a million rows are never all
        in memory, and other statements may run while they are read."""
        psycopg = require_psycopg()
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as reader:
            yield from reader.cursor().stream(self._translate(sql), params) if params else reader.cursor().stream(sql)

    def __enter__(self) -> Self:
        self.lock.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            from psycopg import pq

            if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.lock.release()

    def close(self) -> None:
        self.conn.close()


def require_psycopg():
    try:
        import psycopg
    except ImportError:
        raise ImportError("--db postgresql://... needs a PostgreSQL driver: "
                          "pip install 'medgap[distributed]'") from None
    return psycopg


def connect(location: str | Path) -> SqliteDB | PostgresDB:
    db = PostgresDB(str(location)) if is_postgres(location) else SqliteDB(location)
    try:
        migrate(db, shown(location))
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: SqliteDB | PostgresDB) -> int:
    """The version the database records; 0 for an empty one or one made before versions were kept.
    Reading it writes nothing, so a read-only database at the current version opens."""
    if not db.has_table("medgap_schema"):
        return 0
    return db.execute("SELECT max(version) FROM medgap_schema").fetchone()[0] or 0


def migrate(db: SqliteDB | PostgresDB, where: str) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before. Refuses a newer one."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(where, found)
    if found == SCHEMA_VERSION:
        return found
    with db:
        db.begin()
        if isinstance(db, PostgresDB):
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        db.execute(VERSION_TABLE)
        current = db.execute("SELECT max(version) FROM medgap_schema").fetchone()[0] or 0  # another may have won
        for version, _, statements in MIGRATIONS:
            if version > current:
                for statement in statements:
                    db.execute(statement)
        if current < SCHEMA_VERSION:
            db.execute("DELETE FROM medgap_schema")
            db.execute("INSERT INTO medgap_schema VALUES (?)", (SCHEMA_VERSION,))
    return found
