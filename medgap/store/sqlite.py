"""The store: run configs, the samples asked, one row per (sample, permutation) written the
moment each response arrives, and each run's lease and status. WAL mode keeps a crash (even kill -9)
from losing committed rows.

The public interface (what another backend provides too):
- runs: `create_run` (config, items and lease state in one transaction), `run_config`, `runs`,
  `run_infos` (status and row counts), `has_run`, `save_run` (a changed config, e.g. after a rescore);
- leases: `acquire`, `heartbeat`, `release` (see `medgap.store.lease`), `reopen` (a second connection);
- rows: `write_rows` (one batch, one transaction, only while holding the lease when one is given),
  `iter_rows`, `rows`, `completed_keys`, `count_rows`, `samples`.
Every failure of the database comes out as a `StoreError` naming the file and what to do. The
database is a SQLite file or a PostgreSQL server (`medgap.store.backend`), the SQL the same for both.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from medgap.records import Row, RunConfig, Sample
from medgap.redact import known_secrets, redact, redact_value
from medgap.store.backend import PostgresDB, SqliteDB, connect, is_postgres, shown
from medgap.store.errors import LeaseLost, RunBusy, RunExists, RunNotFound, storage_error, storage_errors
from medgap.store.lease import Holder, LeaseState, stamp

DEFAULT_DB = "medgap.db"

INSERT_ROW = """
INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, sample_id, permutation) DO UPDATE SET dimension = excluded.dimension, task = excluded.task,
    kind = excluded.kind, value = excluded.value, error = excluded.error, row = excluded.row
"""
SAVE_RUN = """
INSERT INTO runs VALUES (?, ?, ?, ?, ?)
ON CONFLICT (run_id) DO UPDATE SET model = excluded.model, suite = excluded.suite, created = excluded.created,
    config = excluded.config
"""
ADD_SAMPLES = "INSERT INTO samples VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
# Take the lease when the run is free or already ours: one statement, so two processes cannot both win.
ACQUIRE = """
INSERT INTO run_state (run_id, status, holder, host, pid, proc_start, since, heartbeat)
VALUES (:run_id, 'running', :holder, :host, :pid, :start, :now, :now)
ON CONFLICT (run_id) DO UPDATE SET status = 'running', holder = excluded.holder, host = excluded.host,
    pid = excluded.pid, proc_start = excluded.proc_start, since = excluded.since, heartbeat = excluded.heartbeat,
    message = NULL
WHERE run_state.holder IS NULL OR run_state.holder = excluded.holder OR run_state.holder = :dead
"""


def redacted_row(row: Row, secrets: list[str]) -> Row:
    """The row as stored: server text (answers, errors) without secrets (`known_secrets()`, read once
    per batch by the caller)."""
    response = row.response
    text = redact(response.text, secrets)
    error = redact(response.error, secrets) if response.error else response.error
    if text == response.text and error == response.error:
        return row
    return row.model_copy(update={"response": response.model_copy(update={"text": text, "error": error})})


def redacted_config(config: RunConfig) -> RunConfig:
    """The config as stored and shown: no credentials in the model string or anywhere else."""
    return RunConfig.model_validate(redact_value(config.model_dump()))


def row_values(row: Row) -> tuple:
    return (row.run_id, row.sample_id, row.permutation, row.dimension, row.task, row.kind, row.score.value,
            row.response.error, row.model_dump_json())


def guarded(method):
    """Database failures leave the method as one StoreError naming the file."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except storage_errors() as exc:
            raise storage_error(exc, shown(self.path)) from None

    return call


@dataclass(frozen=True)
class RunInfo:
    """A stored run as `medgap runs` lists it."""

    config: RunConfig
    status: str
    rows: int  # rows stored, failed ones included
    answered: int
    attempts: int | None  # (item, option order) pairs the run asks; None for runs stored before it was kept
    holder: str | None = None
    message: str | None = None


class Store:
    """One database holding any number of runs: a SQLite file, or a PostgreSQL server
    (`postgresql://user@host/dbname`) that a team shares."""

    @guarded
    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = str(path) if is_postgres(path) else Path(path)
        self.db: SqliteDB | PostgresDB = connect(self.path)

    def close(self) -> None:
        self.db.close()

    def reopen(self) -> Store:
        """A second connection to the same file (for another thread)."""
        return Store(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs -------------------------------------------------------------------------------------
    @guarded
    def create_run(self, config: RunConfig, samples: Iterable[Sample], attempts: int | None = None) -> None:
        """Store a new run: its config, its items and its state, all or nothing. Raises RunExists."""
        config = redacted_config(config)
        with self.db:
            self.db.begin()
            if self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (config.run_id,)).fetchone():
                raise RunExists(config.run_id)
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                            (config.run_id, config.model, config.suite, config.created, config.model_dump_json()))
            self.db.executemany(ADD_SAMPLES,
                                ((config.run_id, s.id, i, s.model_dump_json()) for i, s in enumerate(samples)))
            self.db.execute("INSERT INTO run_state (run_id, status, attempts) VALUES (?, 'stopped', ?) "
                            "ON CONFLICT (run_id) DO UPDATE SET attempts = excluded.attempts",
                            (config.run_id, attempts))

    @guarded
    def save_run(self, config: RunConfig) -> None:
        """Store a run's config, replacing the stored one (a rescore changes how it is matched)."""
        config = redacted_config(config)
        self.db.execute(
            SAVE_RUN,
            (config.run_id, config.model, config.suite, config.created, config.model_dump_json()),
        )

    @guarded
    def has_run(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    @guarded
    def run_config(self, run_id: str) -> RunConfig:
        found = self.db.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            raise RunNotFound(run_id)
        return redacted_config(RunConfig.model_validate_json(found[0]))  # also runs stored before redaction

    @guarded
    def runs(self) -> list[RunConfig]:
        cursor = self.db.execute("SELECT config FROM runs ORDER BY created")
        return [redacted_config(RunConfig.model_validate_json(config)) for (config,) in cursor]

    @guarded
    def run_infos(self) -> list[RunInfo]:
        """Every run with its status and how many rows it has stored."""
        counts = {run_id: (rows, answered) for run_id, rows, answered in self.db.execute(
            "SELECT run_id, count(*), count(*) - count(error) FROM rows GROUP BY run_id")}
        states = {state.run_id: state for state in self._states()}
        infos = []
        for config in self.runs():
            rows, answered = counts.get(config.run_id, (0, 0))
            state = states.get(config.run_id)
            if state is None:  # stored before runs had a state
                status = "complete" if rows and rows == answered else "stopped"
                infos.append(RunInfo(config, status, rows, answered, None))
                continue
            infos.append(RunInfo(config, state.shown_status(), rows, answered, state.attempts,
                                 state.holder.id if state.holder else None, state.message))
        return infos

    def _states(self, run_id: str | None = None) -> list[LeaseState]:
        query = ("SELECT run_id, status, holder, host, pid, proc_start, since, heartbeat, message, attempts "
                 "FROM run_state")
        cursor = self.db.execute(query + " WHERE run_id = ?", (run_id,)) if run_id else self.db.execute(query)
        return [LeaseState(rid, status, Holder(host, pid, start or "") if holder else None, since, beat, message,
                           attempts)
                for rid, status, holder, host, pid, start, since, beat, message, attempts in cursor]

    @guarded
    def run_state(self, run_id: str) -> LeaseState | None:
        found = self._states(run_id)
        return found[0] if found else None

    # leases -----------------------------------------------------------------------------------
    @guarded
    def acquire(self, run_id: str, holder: Holder) -> None:
        """Take the run's lease (it may not exist yet): free, ours, or held by a dead process.
        Raises RunBusy naming the live holder."""
        params = {"run_id": run_id, "holder": holder.id, "host": holder.host, "pid": holder.pid,
                  "start": holder.start, "now": time.time(), "dead": None}
        if self.db.execute(ACQUIRE, params).rowcount == 1:
            return
        state = self.run_state(run_id)
        if state is not None and state.holder is not None and state.holder_dead():
            # compare-and-swap: only if the dead holder is still the one recorded
            if self.db.execute(ACQUIRE, {**params, "dead": state.holder.id}).rowcount == 1:
                return
            state = self.run_state(run_id)
        if state is None or state.holder is None:  # released in between: try once more
            if self.db.execute(ACQUIRE, params).rowcount == 1:
                return
            state = self.run_state(run_id)
        age = time.time() - state.heartbeat if state.heartbeat else None
        raise RunBusy(run_id, state.holder.id if state.holder else "?", stamp(state.since), age)

    @guarded
    def heartbeat(self, run_id: str, holder: Holder) -> bool:
        """Renew the lease; False when this holder no longer has it."""
        cursor = self.db.execute("UPDATE run_state SET heartbeat = ? WHERE run_id = ? AND holder = ?",
                                 (time.time(), run_id, holder.id))
        return cursor.rowcount == 1

    @guarded
    def release(self, run_id: str, holder: Holder, status: str, message: str | None = None) -> None:
        self.db.execute(
            "UPDATE run_state SET holder = NULL, host = NULL, pid = NULL, proc_start = NULL, status = ?, "
            "message = ?, heartbeat = ? WHERE run_id = ? AND holder = ?",
            (status, redact(message) if message else message, time.time(), run_id, holder.id),
        )

    # samples ----------------------------------------------------------------------------------
    @guarded
    def save_samples(self, run_id: str, samples: Iterable[Sample]) -> None:
        """Add items to a run (tests build runs this way; `create_run` is how runs are made)."""
        with self.db:
            self.db.begin()
            self.db.executemany(
                ADD_SAMPLES,
                ((run_id, s.id, i, s.model_dump_json()) for i, s in enumerate(samples)),
            )

    @guarded
    def samples(self, run_id: str) -> list[Sample]:
        cursor = self.db.execute("SELECT sample FROM samples WHERE run_id = ? ORDER BY position", (run_id,))
        return [Sample.model_validate_json(sample) for (sample,) in cursor]

    # rows -------------------------------------------------------------------------------------
    @guarded
    def write_rows(self, rows: Iterable[Row], holder: Holder | None = None, secrets: list[str] | None = None) -> None:
        """Persist rows (new or re-scored) in one transaction: all of them or none, and once this
        returns they survive any crash. With `holder`, only while it holds each row's run (else
        LeaseLost and nothing is written). Server text is redacted on the way in (`secrets`: the
        caller's `known_secrets()`, else read here)."""
        secrets = known_secrets() if secrets is None else secrets
        rows = [redacted_row(row, secrets) for row in rows]
        if not rows:
            return
        with self.db:
            self.db.begin()
            if holder is not None:
                for run_id in {row.run_id for row in rows}:
                    found = self.db.execute("SELECT holder FROM run_state WHERE run_id = ?" + self.db.for_update,
                                            (run_id,)).fetchone()
                    if found is None or found[0] != holder.id:
                        raise LeaseLost(run_id)
            self.db.executemany(INSERT_ROW, (row_values(row) for row in rows))

    @guarded
    def count_rows(self, run_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM rows WHERE run_id = ?", (run_id,)).fetchone()[0]

    @guarded
    def completed_keys(self, run_id: str) -> set[tuple[str, int]]:
        """(sample_id, permutation) pairs answered without error: resume skips these."""
        cursor = self.db.execute(
            "SELECT sample_id, permutation FROM rows WHERE run_id = ? AND error IS NULL", (run_id,)
        )
        return {(sample_id, permutation) for sample_id, permutation in cursor}

    def iter_rows(self, run_id: str) -> Iterator[Row]:
        try:
            cursor = self.db.stream(
                "SELECT r.row FROM rows r JOIN samples s ON s.run_id = r.run_id AND s.sample_id = r.sample_id "
                "WHERE r.run_id = ? ORDER BY s.position, r.permutation",
                (run_id,),
            )
            for (row,) in cursor:
                yield Row.model_validate_json(row)
        except storage_errors() as exc:
            raise storage_error(exc, shown(self.path)) from None

    def rows(self, run_id: str) -> list[Row]:
        return list(self.iter_rows(run_id))
