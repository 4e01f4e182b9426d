"""`medgap annotate`: serve the error-annotation app for a run, or export its labels."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from medgap.cli.app import app
from medgap.cli.common import DEFAULT_DB_PATH, DbOption, console, err_console, fail, open_store
from medgap.extras import MissingExtra, require_extra
from medgap.store.annotations import EXPORT_FORMATS, AnnotationStore, export_text
from medgap.store.backend import shown

if TYPE_CHECKING:
    from medgap.web.annotate import Setup


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def export_format(path: Path, fmt: str | None) -> str:
    chosen = fmt or path.suffix.lstrip(".").lower()
    if chosen not in EXPORT_FORMATS:
        raise fail(f"cannot tell the export format of {path}; pass --format ({', '.join(EXPORT_FORMATS)})")
    return chosen


@app.command()
def annotate(
    run_id: Annotated[str, typer.Argument(help="The run whose wrong answers to annotate.")],
    db: DbOption = DEFAULT_DB_PATH,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (loopback by default: only this machine).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    annotators: Annotated[
        int, typer.Option("--annotators", help="How many annotators label every item independently.")
    ] = 3,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample", help="How many wrong rows to draw for annotation (first start only; default 100)."
        ),
    ] = None,
    reissue: Annotated[
        list[str] | None,
        typer.Option(
            "--reissue",
            help="Replace the token of this person (annotator1, ..., adjudicator), e.g. after a lost link. Repeatable.",
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the labels to this .csv or .jsonl file instead of serving."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help=f"Export format ({', '.join(EXPORT_FORMATS)}); default from the file's suffix."
        ),
    ] = None,
) -> None:
    """Let annotators label a sample of a run's wrong answers with the error codebook, in the browser.

    Each person gets a secret link (printed when issued; only a hash is stored). Labels are saved in
    the run's database on every click. When every annotator has labelled an item, the majority category
    is its consensus; items without a majority go to the adjudicator."""
    if export is not None:
        chosen = export_format(export, fmt)
        with open_store(db) as store:
            store.run_config(run_id)
            notes = AnnotationStore(store)
            if not notes.items(run_id):
                raise fail(f"run {run_id!r} has no annotation yet (start `medgap annotate {run_id}` first)")
            records = notes.export_records(run_id)
            text = export_text(records, notes.annotator_names(run_id), chosen)
        export.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {len(records)} items to {escape(str(export))}", highlight=False)
        return
    try:
        require_extra("web", "medgap annotate")
    except MissingExtra as exc:
        raise fail(str(exc)) from None
    from medgap.web.annotate import AnnotateError, prepare

    with open_store(db) as store:
        try:
            setup = prepare(store, run_id, annotators=annotators, sample=sample, reissue=reissue or [])
        except AnnotateError as exc:
            raise fail(str(exc)) from None
    serve(db, run_id, host, port, setup)


def serve(db: str, run_id: str, host: str, port: int, setup: Setup) -> None:
    import uvicorn

    from medgap.web.annotate import create_app

    shown_host = f"[{host}]" if ":" in host else host
    console.print(f"annotating run [bold]{escape(run_id)}[/]: {setup.items} items, labels saved in {escape(shown(db))}",
                  highlight=False)
    for person in setup.people:
        token = setup.tokens.get(person.name)
        if token:
            console.print(
                f"  {person.name:<12} http://{shown_host}:{port}/#token={token}",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print(
                f"  {person.name:<12} link issued earlier (lost it? restart with --reissue {person.name})"
            )
    if not is_loopback(host):
        err_console.print(
            f"[yellow]listening on {host}: anyone who can reach it and holds a link can label; "
            "traffic is not encrypted[/]"
        )
    console.print("Ctrl+C stops the server; every label is already saved.")
    sys.stdout.flush()  # the links must reach a pipe or file before the server blocks
    uvicorn.run(create_app(db, run_id, host=host), host=host, port=port, log_level="warning", access_log=False)
