"""SQLite storage: run configs, the samples asked, and one row per (sample, permutation), written
the moment each response arrives. WAL mode keeps a crash (even kill -9) from losing committed rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Self

from medgap.records import Row, RunConfig, Sample

DEFAULT_DB = "medgap.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    suite TEXT NOT NULL,
    created TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (run_id, sample_id)
);
CREATE TABLE IF NOT EXISTS rows (
    run_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    permutation INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    task TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    error TEXT,
    row TEXT NOT NULL,
    PRIMARY KEY (run_id, sample_id, permutation)
);
"""


INSERT_ROW = "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def row_values(row: Row) -> tuple:
    return (row.run_id, row.sample_id, row.permutation, row.dimension, row.task, row.kind, row.score.value,
            row.response.error, row.model_dump_json())


class RunNotFound(KeyError):
    def __str__(self) -> str:
        return f"no run {self.args[0]!r} in this database (see `medgap runs`)"


class Store:
    """One SQLite file holding any number of runs."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs -------------------------------------------------------------------------------------
    def save_run(self, config: RunConfig) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)",
            (config.run_id, config.model, config.suite, config.created, config.model_dump_json()),
        )

    def has_run(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def run_config(self, run_id: str) -> RunConfig:
        found = self.db.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            raise RunNotFound(run_id)
        return RunConfig.model_validate_json(found[0])

    def runs(self) -> list[RunConfig]:
        cursor = self.db.execute("SELECT config FROM runs ORDER BY created")
        return [RunConfig.model_validate_json(config) for (config,) in cursor]

    # samples ----------------------------------------------------------------------------------
    def save_samples(self, run_id: str, samples: Iterable[Sample]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?)",
                ((run_id, s.id, i, s.model_dump_json()) for i, s in enumerate(samples)),
            )

    def samples(self, run_id: str) -> list[Sample]:
        cursor = self.db.execute("SELECT sample FROM samples WHERE run_id = ? ORDER BY position", (run_id,))
        return [Sample.model_validate_json(sample) for (sample,) in cursor]

    # rows -------------------------------------------------------------------------------------
    def write_rows(self, rows: Iterable[Row]) -> None:
        """Persist rows (new or re-scored) in one transaction: all of them or none, and once this
        returns they survive any crash."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(INSERT_ROW, (row_values(row) for row in rows))

    def count_rows(self, run_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM rows WHERE run_id = ?", (run_id,)).fetchone()[0]

    def completed_keys(self, run_id: str) -> set[tuple[str, int]]:
        """(sample_id, permutation) pairs answered without error: resume skips these."""
        cursor = self.db.execute(
            "SELECT sample_id, permutation FROM rows WHERE run_id = ? AND error IS NULL", (run_id,)
        )
        return {(sample_id, permutation) for sample_id, permutation in cursor}

    def iter_rows(self, run_id: str) -> Iterator[Row]:
        cursor = self.db.execute(
            "SELECT r.row FROM rows r JOIN samples s ON s.run_id = r.run_id AND s.sample_id = r.sample_id "
            "WHERE r.run_id = ? ORDER BY s.position, r.permutation",
            (run_id,),
        )
        for (row,) in cursor:
            yield Row.model_validate_json(row)

    def rows(self, run_id: str) -> list[Row]:
        return list(self.iter_rows(run_id))
