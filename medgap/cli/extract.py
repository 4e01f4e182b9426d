"""`medgap extract`: add the extracted answer letters to choice-item records (JSONL in, JSONL out)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from medgap.cli.app import app
from medgap.cli.common import fail
from medgap.scoring.choice_answer import extract_records


@app.command()
def extract(
    file: Annotated[
        typer.FileText,
        typer.Argument(
            help="JSONL file, one record per line with `options` (letter -> text), `response` and "
            "`type` ('single' or 'multi'); '-' reads stdin.",
            encoding="utf-8",
        ),
    ],
) -> None:
    """Print each record back as JSONL with `extracted`: the option letters the response commits to
    ("ACE"), or null when it gives no answer."""
    try:
        for record in extract_records(file, source=file.name):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    except UnicodeDecodeError as exc:
        raise fail(escape(f"{file.name}: not UTF-8 text ({exc.reason})")) from None
    except ValueError as exc:
        raise fail(escape(str(exc))) from None
