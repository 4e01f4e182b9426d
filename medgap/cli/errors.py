"""`medgap errors`: pre-label the wrong answers of a run and show what kinds of errors they are."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from medgap.analysis.errors import error_distribution, label_run
from medgap.analysis.taxonomy import CATEGORIES
from medgap.cli.app import app
from medgap.cli.common import (
    DEFAULT_DB_PATH,
    DbOption,
    JsonOption,
    console,
    err_console,
    fail,
    open_store,
    print_json,
)
from medgap.records import DIMENSION_LABELS_ZH


def distribution_table(result: dict) -> Table:
    groups = {"overall": result["overall"], **result["dimensions"]}
    table = Table(title=f"primary error categories · run {escape(result['run_id'])}", title_justify="left")
    table.add_column("category", no_wrap=True)
    for name in groups:
        table.add_column(DIMENSION_LABELS_ZH.get(name, name), justify="right", overflow="fold")
    for c in CATEGORIES:
        cells = [
            f"{g['counts'][c.key]} ({g['shares'][c.key]:.0%})" if g["counts"][c.key] else "–"
            for g in groups.values()
        ]
        table.add_row(c.name_zh, *cells)
    table.add_row("wrong rows", *(str(g["n"]) for g in groups.values()), style="bold")
    return table


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def agreement_tables(report: dict) -> list[Table]:
    summary = Table(
        title=f"annotator agreement · {', '.join(report['annotators']) or 'no annotators'}",
        title_justify="left",
        show_header=False,
    )
    summary.add_row("items labelled by all", f"{report['complete']} of {report['items']}")
    summary.add_row("status", ", ".join(f"{k} {v}" for k, v in sorted(report["status"].items())) or "–")
    summary.add_row("observed agreement", fmt(report["observed_agreement"]))
    summary.add_row("Fleiss' κ", fmt(report["fleiss_kappa"]))
    summary.add_row("Krippendorff's α (nominal)", fmt(report["krippendorff_alpha"]))
    pre = report["prelabel"]
    summary.add_row(
        "pre-label accuracy vs consensus", f"{fmt(pre['accuracy'])} ({pre['correct']}/{pre['n']})"
    )
    for level, group in sorted(pre["by_confidence"].items()):
        summary.add_row(
            f"  confidence {level}", f"{fmt(group['accuracy'])} ({group['correct']}/{group['n']})"
        )
    per = Table(
        "category",
        "labels",
        "specific agreement",
        "κ (this vs rest)",
        title="per category",
        title_justify="left",
    )
    for c in CATEGORIES:
        row = report["per_category"][c.key]
        per.add_row(
            f"{c.name_zh} {c.name}", str(row["labels"]), fmt(row["specific_agreement"]), fmt(row["kappa"])
        )
    return [summary, per]


@app.command()
def errors(
    run_id: Annotated[str, typer.Argument(help="The run whose wrong answers to label.")],
    db: DbOption = DEFAULT_DB_PATH,
    as_json: JsonOption = False,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="A model (PROVIDER/NAME) that labels what the rules cannot decide "
            "(hallucination, reasoning, context, language); its short rationale is stored.",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for an openai/ judge.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout of the judge in seconds.")] = 120.0,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", "-c", help="Judge requests in flight (default: the backend's)."),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Label every wrong row again instead of reusing stored pre-labels."),
    ] = False,
    agreement: Annotated[
        bool,
        typer.Option(
            "--agreement",
            help="Also show agreement among the annotators of `medgap annotate` "
            "(Fleiss' κ, Krippendorff's α, per category, pre-label accuracy).",
        ),
    ] = False,
) -> None:
    """Pre-label every wrong or partially correct row of a run (stored for re-use) and show the
    distribution of primary error categories per dimension. Human consensus from `medgap annotate`
    takes precedence over pre-labels."""
    with open_store(db) as store:
        backend = None
        if judge:
            from medgap.models import get_model

            try:
                backend = get_model(
                    judge, base_url=base_url, timeout=timeout, max_concurrency=max_concurrency
                )
            except (ValueError, ImportError) as exc:
                raise fail(f"--judge: {exc}") from None
        concurrency = max_concurrency or (backend.default_concurrency if backend else 1)
        with Progress(
            TextColumn("judging"),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=backend is None,
        ) as bar:
            task = bar.add_task("judging", total=None)
            done = label_run(
                store,
                run_id,
                judge=backend,
                refresh=refresh,
                concurrency=concurrency,
                on_judged=lambda index, label: bar.advance(task),
            )
        result = error_distribution(store, run_id)
        from medgap.analysis.agreement import agreement_report  # statsmodels: slow to import

        report = agreement_report(store, run_id) if agreement else None
    if as_json:
        print_json({**result, "agreement": report} if report is not None else result)
        return
    err_console.print(
        f"{done.wrong} wrong or partially correct rows: {done.ruled} labelled by rules now, {done.reused} reused"
        + (f", {done.judged} by the judge" if backend else "")
        + (
            f" ([yellow]{done.judge_failed} judge replies unusable, rule label kept[/])"
            if done.judge_failed
            else ""
        )
    )
    console.print(distribution_table(result))
    sources = ", ".join(f"{n} {source}" for source, n in sorted(result["sources"].items())) or "none"
    console.print(f"labels from: {sources}; {result['low_confidence']} low-confidence guesses to review")
    if report is not None:
        for table in agreement_tables(report):
            console.print(table)
