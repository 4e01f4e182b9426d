"""`medgap keypoints`: the key points each open-ended item is scored against, to check and override."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from medgap.cli.app import app
from medgap.cli.common import (
    DataFormatOption,
    DimensionOption,
    JsonOption,
    LimitOption,
    LimitPerTaskOption,
    console,
    err_console,
    fail,
    print_json,
)
from medgap.scoring.keypoints import (
    OverrideError,
    apply_overrides,
    key_points,
    key_points_source,
    write_points,
)


@app.command()
def keypoints(
    dataset: Annotated[
        str, typer.Argument(help="A bundled suite name, a suite YAML file, or a data file/directory.")
    ],
    overrides: Annotated[
        Path | None,
        typer.Option(
            "--overrides",
            help='JSONL of {"id": ITEM, "points": [...]} to apply before showing '
            "(what a suite's `keypoints:` field names).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the points in force as an editable override JSONL file."),
    ] = None,
    data_format: DataFormatOption = None,
    dimension: DimensionOption = None,
    limit: LimitOption = None,
    limit_per_task: LimitPerTaskOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the key points of every open-ended item: the source's own list (given), points derived
    from the reference answer (derived), or an override. Edit the --output file and pass it back
    with --overrides (or a suite's `keypoints:` field) to change what answers are checked against."""
    from medgap.datasets import DatasetError
    from medgap.datasets.suites import load_suite

    try:
        samples = load_suite(dataset, limit=limit, limit_per_task=limit_per_task, dimension=dimension,
                             format=data_format).samples
        if overrides is not None:
            samples = apply_overrides(samples, overrides)
    except (DatasetError, OverrideError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    open_items = [s for s in samples if s.kind == "open"]
    if not open_items:
        raise fail(f"{dataset} has no open-ended items")
    if output is not None:
        count = write_points(open_items, output)
        err_console.print(f"wrote the points of {count} items to {output}")
    entries: list[dict[str, Any]] = [
        {"id": s.id, "task": s.task, "source": key_points_source(s), "points": key_points(s)} for s in open_items
    ]
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"key points · {dataset} · {len(entries)} open items", title_justify="left", show_lines=True)
    for column in ("item", "source", "n", "key points"):
        table.add_column(column, justify="right" if column == "n" else "left")
    for entry in entries:
        points = "\n".join(f"{i}. {escape(p)}" for i, p in enumerate(entry["points"], start=1)) or "[red](none)[/]"
        table.add_row(escape(entry["id"]), entry["source"], str(len(entry["points"])), points)
    console.print(table)
    empty = sum(1 for e in entries if not e["points"])
    if empty:
        err_console.print(f"[yellow]{empty} items have no key points and will not be scored[/]")
