"""`medgap datasets`: the bundled suites, the supported formats, or what a given data file holds."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.table import Table

from medgap.cli.app import app
from medgap.cli.common import JsonOption, LimitOption, LimitPerTaskOption, console, fail, print_json
from medgap.datasets import FORMATS, DatasetError
from medgap.datasets.suites import Suite, list_suites, load_suite
from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS


def _breakdown(counts: dict[str, dict[str, int]]) -> str:
    parts = []
    for dimension in DIMENSIONS:
        kinds = counts.get(dimension)
        if kinds:
            detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            parts.append(f"{dimension} {DIMENSION_LABELS_ZH[dimension]}: {detail}")
    return "\n".join(parts)


def _suites_table(suites: list[Suite]) -> Table:
    table = Table(title="bundled suites", title_justify="left", show_lines=True)
    table.add_column("suite")
    table.add_column("items", justify="right")
    table.add_column("orders", justify="right")
    table.add_column("items per dimension and kind")
    for suite in suites:
        table.add_row(
            suite.name, str(len(suite.samples)), str(suite.permutations), _breakdown(suite.counts())
        )
    return table


def _formats_table() -> Table:
    table = Table(title="formats (--format)", title_justify="left")
    table.add_column("format")
    table.add_column("reads")
    for fmt in FORMATS.values():
        table.add_row(fmt.name, fmt.description)
    return table


def _tasks(suite: Suite) -> dict[str, dict]:
    tasks: dict[str, dict] = defaultdict(
        lambda: {"dimension": None, "items": 0, "kinds": Counter(), "ungraded": 0}
    )
    for sample in suite.samples:
        entry = tasks[sample.task]
        entry["dimension"] = sample.dimension
        entry["items"] += 1
        entry["kinds"][sample.kind] += 1
        entry["ungraded"] += sample.gold is None
    return {task: {**entry, "kinds": dict(entry["kinds"])} for task, entry in tasks.items()}


def _tasks_table(suite: Suite) -> Table:
    table = Table(title=f"{suite.name} · {len(suite.samples)} items", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("task", "left"),
        ("dimension", "left"),
        ("items", "right"),
        ("kinds", "left"),
        ("ungraded", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for task, entry in _tasks(suite).items():
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(entry["kinds"].items()))
        table.add_row(task, entry["dimension"], str(entry["items"]), kinds, str(entry["ungraded"]))
    return table


def _suite_json(suite: Suite) -> dict:
    return {
        "name": suite.name,
        "description": suite.description,
        "seed": suite.seed,
        "permutations": suite.permutations,
        "items": len(suite.samples),
        "counts": suite.counts(),
        "tasks": _tasks(suite),
        "skipped": suite.skipped,
    }


@app.command()
def datasets(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="A bundled suite name, a suite YAML file, or a data file/directory to inspect. "
            "Omit it to list the bundled suites and the supported formats."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"Format of a data file ({', '.join(FORMATS)}); told from the content when omitted.",
        ),
    ] = None,
    dimension: Annotated[
        str | None,
        typer.Option(
            "--dimension",
            help=f"Dimension to give every item; needed when the source "
            f"names none ({', '.join(DIMENSIONS)}).",
        ),
    ] = None,
    limit: LimitOption = None,
    limit_per_task: LimitPerTaskOption = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip malformed rows (each is reported) instead of stopping.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """List the bundled suites and formats, or show what a suite or data file holds."""
    try:
        if spec is None:
            suites = [load_suite(name) for name in list_suites()]
        else:
            suites = [load_suite(spec, limit=limit, limit_per_task=limit_per_task, dimension=dimension, format=format,
                                 skip_bad=skip_bad)]
    except DatasetError as exc:
        raise fail(str(exc)) from None
    if json_out:
        value: dict[str, Any] = {"suites": [_suite_json(s) for s in suites]}
        if spec is None:
            value["formats"] = {f.name: f.description for f in FORMATS.values()}
        print_json(value)
        return
    if spec is None:
        console.print(_suites_table(suites))
        console.print(_formats_table())
        return
    suite = suites[0]
    console.print(_tasks_table(suite))
    for message in suite.skipped:
        console.print(f"[yellow]skipped[/] {message}", highlight=False, markup=True)
