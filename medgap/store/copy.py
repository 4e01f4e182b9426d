"""Copy runs between stores, whichever the backends (SQLite file, PostgreSQL server): configs, items,
rows, status and annotation tables, one transaction per run in the destination, rows streamed in
batches so a million-row run never sits in memory."""

from __future__ import annotations

from collections.abc import Callable

from medgap.store.errors import RunExists, RunNotFound
from medgap.store.sqlite import Store

# every table keyed by run_id, parents first; columns in the same order in both backends (one schema)
RUN_TABLES = ("runs", "samples", "rows", "run_state", "error_prelabels", "annotators", "annotation_items",
              "error_labels", "error_adjudications")
BATCH = 2000


def copy_runs(source: Store, target: Store, run_ids: list[str] | None = None,
              on_run: Callable[[str, int], None] = lambda run_id, rows: None) -> dict[str, int]:
    """Copy `run_ids` (default: every run) from `source` into `target`; returns rows copied per run.
    Refuses, before writing anything, runs that `source` lacks (RunNotFound) or `target` already has
    (RunExists). A copied run is not held by anyone: one that was running reads as stopped."""
    ids = run_ids or [config.run_id for config in source.runs()]
    for run_id in ids:
        if not source.has_run(run_id):
            raise RunNotFound(run_id)
        if target.has_run(run_id):
            raise RunExists(run_id)
    copied = {}
    for run_id in ids:
        copied[run_id] = copy_run(source, target, run_id)
        on_run(run_id, copied[run_id])
    return copied


def copy_run(source: Store, target: Store, run_id: str) -> int:
    rows = 0
    with target.db:
        target.db.begin()
        for table in RUN_TABLES:
            batch: list[tuple] = []
            insert: str | None = None
            for values in source.db.stream(f"SELECT * FROM {table} WHERE run_id = ?", (run_id,)):
                if insert is None:
                    insert = f"INSERT INTO {table} VALUES ({', '.join('?' * len(values))})"
                batch.append(tuple(values))
                if len(batch) >= BATCH:
                    target.db.executemany(insert, batch)
                    batch.clear()
                rows += table == "rows"
            if batch:
                assert insert is not None  # set by the first row read
                target.db.executemany(insert, batch)
        target.db.execute("UPDATE run_state SET holder = NULL, host = NULL, pid = NULL, proc_start = NULL, "
                          "status = CASE WHEN status = 'running' THEN 'stopped' ELSE status END WHERE run_id = ?",
                          (run_id,))
    return rows
