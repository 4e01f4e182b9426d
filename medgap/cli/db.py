"""`medgap db copy`, `medgap db version`: move runs between stores (SQLite file, PostgreSQL server)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from medgap.cli.app import app
from medgap.cli.common import DEFAULT_DB_PATH, DbOption, console, fail, open_store
from medgap.store import RunExists
from medgap.store.backend import SCHEMA_VERSION, shown

db_app = typer.Typer(help="Move runs between databases; show the schema version.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command()
def copy(
    source: Annotated[str, typer.Argument(help="The database to read: a SQLite file or postgresql://user@host/dbname.")],
    target: Annotated[str, typer.Argument(help="The database to write (made, or upgraded, if needed).")],
    run: Annotated[
        list[str] | None, typer.Option("--run", "-r", help="A run to copy (repeat for several; default: all).")
    ] = None,
) -> None:
    """Copy runs with their items, rows, status and annotations from SOURCE into TARGET; runs TARGET
    already has are refused before anything is written."""
    from medgap.store.copy import copy_runs

    with open_store(source) as src, open_store(target, must_exist=False) as dst:
        try:
            copied = copy_runs(src, dst, run, on_run=lambda run_id, rows: console.print(
                f"copied run [bold]{escape(run_id)}[/] ({rows} rows)", highlight=False, soft_wrap=True))
        except RunExists as exc:
            raise fail(f"{exc}; nothing was copied (copy the other runs with --run)") from None
    console.print(f"{len(copied)} runs, {sum(copied.values())} rows: {escape(shown(source))} -> "
                  f"{escape(shown(target))}", highlight=False, soft_wrap=True)


@db_app.command()
def version(db: DbOption = DEFAULT_DB_PATH) -> None:
    """The database's schema version (opening it upgrades an older one)."""
    with open_store(db) as store:
        found = store.db.execute("SELECT max(version) FROM medgap_schema").fetchone()[0]
    console.print(f"{escape(shown(db))}: schema version {found} ({store.db.kind}; this medgap: {SCHEMA_VERSION})",
                  highlight=False, soft_wrap=True)
