"""Pieces shared by the command modules: the console, common options, error reporting, and how
`medgap run` and `medgap experiment` ask a prepared run (progress bar, Ctrl-C, a run that keeps failing)."""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from medgap.redact import redact
from medgap.store import DEFAULT_DB, LeaseLost, RunBusy, RunNotFound, Store, StoreError
from medgap.store.backend import is_postgres, shown
from medgap.store.errors import storage_error, storage_errors

if TYPE_CHECKING:  # imported where used: the commands that never ask a model start faster without them
    from medgap.analysis.metrics import RunSummary
    from medgap.evaluate import Claim, PreparedRun
    from medgap.records import RunConfig

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
REDRAW_S = 0.1  # rich redraws a live bar ten times a second


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


def command_line(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def db_args(db: str | Path) -> list[str]:
    """`--db PATH` when the database is not the default one, so a printed command finds it (a server
    URL without its password)."""
    return [] if str(db) == DEFAULT_DB_PATH else ["--db", shown(db)]


def report_skip(error) -> None:
    err_console.print(f"[yellow]skipped[/] {escape(str(error))}")


def ask_run(store: Store, prepared: PreparedRun, *, named: bool, force_new: bool = False, quiet: bool = False,
            resume: Callable[[str], str], announce: Callable[[Claim], None]) -> tuple[RunConfig, RunSummary]:
    """Claim a prepared run, `announce` it, and ask it under a progress bar; the run's stored config
    and summary. A refused claim ends the command with its message; Ctrl-C or a run that stops says
    what is stored and how `resume(run_id)` goes on."""
    from medgap.evaluate import RunSetupError, execute

    try:
        claim = prepared.claim(store, named=named, force_new=force_new)
        owned = claim.__enter__()
    except (RunSetupError, RunBusy) as exc:
        raise fail(str(exc)) from None
    with contextlib.ExitStack() as stack:
        stack.enter_context(stops_cleanly(store, owned.config.run_id, resume(owned.config.run_id)))
        stack.push(claim)  # leaves first: it records how the run ended before Ctrl-C becomes an exit code
        announce(owned)
        _, callbacks = stack.enter_context(progress_bar(quiet))
        summary = execute(store, prepared, owned, callbacks)
    return owned.config, summary


@contextlib.contextmanager
def stops_cleanly(store, run_id: str, resume: str) -> Iterator[None]:
    """Ctrl-C, or a run whose requests keep failing: say what is stored and how `resume` goes on."""
    from medgap.executors import WorkerFailed
    from medgap.runner import TooManyFailures

    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: {escape(stored_rows(store, run_id))}; {escape(resume)} finishes it",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except TooManyFailures as exc:
        raise fail(f"stopped: {exc}. {stored_rows(store, run_id)}; check --base-url, the API key and the model name, "
                   f"then {resume} asks the rest (--max-failures 0 never stops)") from None
    except WorkerFailed as exc:
        raise fail(f"stopped: {exc}. {stored_rows(store, run_id)}; {resume} asks the rest") from None


def stored_rows(store, run_id: str) -> str:
    rows = store.count_rows(run_id)
    answered = len(store.completed_keys(run_id))
    return f"{rows} rows of run {run_id} are stored ({answered} answered, {rows - answered} failed)"


class RateColumn(ProgressColumn):
    """Items per second, computed when the bar redraws rather than on every row."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "")


class progress_bar:
    """A rich progress bar fed by the runner's callbacks (done/total, rate, ETA, errors)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.errors = 0
        self.unshown = 0  # rows counted, not yet handed to the bar
        self.shown_at = 0.0

    def __enter__(self):
        from medgap.runner import Progress as RunProgress

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TextColumn("[red]{task.fields[errors]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[note]}"),
            # redrawn ten times a second on a terminal; into a file or a pipe only its final state is
            # written, so there is nothing to redraw
            console=err_console, disable=self.quiet, auto_refresh=err_console.is_terminal,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("asking", total=None, errors="", note="")
        self.workers: dict[str, TaskID] = {}
        if self.quiet:
            return self.bar, RunProgress()
        return self.bar, RunProgress(on_start=self.on_start, on_row=self.on_row, on_worker=self.on_worker)

    def on_start(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def on_row(self, row) -> None:
        if row.response.error is not None:
            self.errors += 1
            self.bar.update(self.task, errors=f"{self.errors} errors")
        # rows are counted here and handed to the bar every REDRAW_S, as often as it can show them:
        # a fast server finishes thousands a second, and each `advance` costs a lock and a sample
        self.unshown += 1
        now = time.monotonic()
        if now - self.shown_at >= REDRAW_S:
            self._show(now)

    def _show(self, now: float) -> None:
        self.bar.advance(self.task, self.unshown)
        self.unshown, self.shown_at = 0, now

    def on_worker(self, worker: str, rows: int, note: str) -> None:
        """One line per worker of a distributed run: its answers, its rate, where it runs."""
        if worker not in self.workers:
            self.workers[worker] = self.bar.add_task(f"  {worker}", total=None, errors="", note="")
        task = self.workers[worker]
        if note:
            self.bar.update(task, note=escape(note))
        if rows:
            self.bar.advance(task, rows)

    def __exit__(self, *exc) -> None:
        if self.unshown:
            self._show(time.monotonic())
        self.bar.__exit__(*exc)
