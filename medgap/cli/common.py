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

from medgap.store import DEFAULT_DB, RunNotFound, Store

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="SQLite file holding the runs.", envvar="MEDGAP_DB")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MaxRpsOption = Annotated[float | None, typer.Option(
    "--max-rps", help="openai/ models: at most this many requests per second, evenly spaced (for APIs with rate limits).")]
MaxFailuresOption = Annotated[int, typer.Option(
    "--max-failures", help="Stop after this many failed requests in a row (retries included); 0 never stops.")]
DEFAULT_DB_PATH = Path(DEFAULT_DB)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (plain text: brackets in paths or errors are shown as they are; one line, so a
    command in it is never broken across lines) and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def open_store(db: Path, must_exist: bool = True) -> Iterator[Store]:
    if must_exist and not db.exists():
        raise fail(f"database {db} does not exist (run `medgap run` first, or pass --db)")
    store = Store(db)
    try:
        yield store
    except RunNotFound as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()


def print_json(value: object) -> None:
    import json

    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
