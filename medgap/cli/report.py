"""`medgap report`: write a self-contained HTML report; `medgap serve`: browse reports of the stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from medgap.cli.app import app
from medgap.cli.common import DEFAULT_DB_PATH, DbOption, console, fail, open_store
from medgap.extras import MissingExtra, require_extra
from medgap.report import report_for_runs, write_report
from medgap.report.collect import DEFAULT_MAX_ROWS
from medgap.store.backend import shown


@app.command()
def report(
    run_ids: Annotated[
        list[str], typer.Argument(help="One run, or several for a leaderboard; two with --compare.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file to write; missing folders are created.")
    ] = Path("report.html"),
    db: DbOption = DEFAULT_DB_PATH,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Pair the two runs item by item: differences with 95% CIs "
            "(automatic for two runs of one experiment).",
        ),
    ] = False,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=0, help="At most this many rows per run in the browsable table.")
    ] = DEFAULT_MAX_ROWS,
) -> None:
    """Write one HTML file (opens offline) with scores, CIs, charts, the rows and the run configuration."""
    with open_store(db) as store:
        try:
            html = report_for_runs(store, run_ids, compare=compare, max_rows=max_rows)
        except ValueError as exc:
            raise fail(str(exc)) from None
    try:
        path = write_report(html, output)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    console.print(
        f"report written to [bold]{path}[/] ({path.stat().st_size / 1024:.0f} KiB)", highlight=False
    )


@app.command()
def serve(
    db: DbOption = DEFAULT_DB_PATH,
    host: Annotated[
        str, typer.Option(help="Interface to listen on; keep 127.0.0.1 unless others should see the runs.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=0, help="At most this many rows per run in each report's table.")
    ] = DEFAULT_MAX_ROWS,
) -> None:
    """Serve the runs in the database: a list of runs, and each report built fresh on request."""
    try:
        require_extra("web", "medgap serve")
    except MissingExtra as exc:
        raise fail(str(exc)) from None
    import uvicorn

    from medgap.report.server import create_app

    with open_store(db):  # exists, opens, and is upgraded before the server starts
        pass
    console.print(f"serving runs from {escape(shown(db))} at http://{host}:{port}/ (Ctrl+C stops)", highlight=False)
    uvicorn.run(create_app(db, max_rows=max_rows, host=host), host=host, port=port, log_level="warning")
