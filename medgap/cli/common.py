"""Pieces shared by the command modules: the console, common options, error reporting."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from medgap.redact import redact
from medgap.store import DEFAULT_DB, LeaseLost, RunBusy, RunNotFound, Store, StoreError
from medgap.store.backend import is_postgres, shown
from medgap.store.errors import storage_error, storage_errors

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[str, typer.Option(
    "--db", help="Where runs are stored: a SQLite file, or a PostgreSQL server as postgresql://user@host/dbname "
    "(pip install 'medgap[distributed]').", envvar="MEDGAP_DB")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help="At most N items in all, taken from every task in turn (seeded draw).")]
LimitPerTaskOption = Annotated[int | None, typer.Option(
    "--limit-per-task", min=1, help="At most N items per task (seeded draw).")]
ConcurrencyOption = Annotated[int | None, typer.Option(
    "--max-concurrency", "-c", help="Requests in flight (default: the backend's).")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai/ models.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Per-request timeout in seconds.")]
DataFormatOption = Annotated[str | None, typer.Option("--format", help="Force the data format of a single data file.")]
DimensionOption = Annotated[str | None, typer.Option(
    "--dimension", help="MedBench dimension for a data file whose source does not say.")]
MaxRpsOption = Annotated[float | None, typer.Option(
    "--max-rps",
    help="openai/ models: at most this many requests per second, evenly spaced (for APIs with rate limits).")]
MaxFailuresOption = Annotated[int, typer.Option(
    "--max-failures", min=0,
    help="Stop after this many items in a row failed, each counted once after the backend's own retries; "
         "0 never stops.")]
MaxReplyBytesOption = Annotated[int, typer.Option(
    "--max-reply-bytes", min=0,
    help="Cut any reply longer than this many bytes (stored cut and marked `truncated`); 0: no limit.")]
ExecutorOption = Annotated[str, typer.Option(
    "--executor", help="Where model calls run: 'inprocess' (this process) or 'ray' (Ray actors, one model each; "
    "pip install 'medgap[distributed]').")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", help="--executor ray: number of model workers (default: one per CPU of the cluster; local/ "
    "models: per n_threads CPUs). They share --max-concurrency and --max-rps.")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", help="--executor ray: the cluster to join, e.g. ray://head:10001 or auto "
    "(default: $RAY_ADDRESS, else a new local cluster).")]
DEFAULT_DB_PATH = DEFAULT_DB


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (plain text: brackets in paths or errors are shown as they are; secrets
    redacted; one line, so a command in it is never broken across lines) and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def open_store(db: str | Path, must_exist: bool = True) -> Iterator[Store]:
    """The store at `db` for one command: every storage failure (full disk, read-only place, damaged
    file) and a missing or busy run end the command with one message, never a traceback."""
    if must_exist and not is_postgres(db) and not Path(db).exists():
        raise fail(f"database {db} does not exist (run `medgap run` first, or pass --db)")
    try:
        store = Store(db)
    except (StoreError, ImportError) as exc:
        raise fail(str(exc)) from None
    try:
        yield store
    except (RunNotFound, StoreError, LeaseLost, RunBusy) as exc:
        raise fail(str(exc)) from None
    except storage_errors() as exc:  # raw database errors from the annotation tables
        raise fail(str(storage_error(exc, shown(db)))) from None
    finally:
        store.close()


def print_json(value: object) -> None:
    """Write a value (a pydantic record too) as indented JSON on stdout."""
    import json

    from pydantic import BaseModel

    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
