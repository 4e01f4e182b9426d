"""`medgap kb build`, `medgap kb search`: knowledge bases for the retrieval and verify interventions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medgap.cli.app import app
from medgap.cli.common import JsonOption, console, err_console, fail, print_json
from medgap.kb import SEARCH_MODES, KBError, KnowledgeBase, load_kb

kb_app = typer.Typer(help="Build and search knowledge bases (markdown passages, BM25 + dense vectors).",
                     no_args_is_help=True)
app.add_typer(kb_app, name="kb")


@kb_app.command("build")
def build(
    source: Annotated[
        Path, typer.Argument(help="A markdown/text file, or a folder of them (one passage per section).")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="KB file to write (default: <folder>.kb.json beside the source)."),
    ] = None,
    dense: Annotated[
        bool, typer.Option("--dense/--no-dense", help="Embed passages with multilingual-e5-small for hybrid search.")
    ] = True,
) -> None:
    """Split the source into passages, embed them and write a KB file for `--kb`."""
    target = output or source.parent / f"{source.stem if source.is_file() else source.name}.kb.json"
    try:
        kb = KnowledgeBase.build(source, dense=dense)
        kb.save(target)
    except (KBError, ImportError, OSError) as exc:
        raise fail(str(exc)) from None
    vectors = f" with {kb.embedding} vectors" if kb.has_vectors else " (BM25 only)"
    err_console.print(f"{len(kb.passages)} passages from {len(kb.documents)} files{vectors} -> {target}")


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for, e.g. 甲硝唑 饮酒.")],
    kb: Annotated[
        Path | None,
        typer.Option(
            "--kb",
            help="KB file or markdown folder (default: $MEDGAP_KB, else the shipped drug-contraindication KB).",
            envvar="MEDGAP_KB",
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 3,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help=f"One of {', '.join(SEARCH_MODES)} (default: hybrid when the KB has vectors)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the passages the retrieval intervention would put in the prompt."""
    try:
        hits = load_kb(str(kb) if kb else None).search(query, k=k, mode=mode)
    except (KBError, ValueError, ImportError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    table = Table("#", "passage", "score", "text")
    for i, hit in enumerate(hits, start=1):
        d = hit.to_dict()
        table.add_row(str(i), f"{d['id']}\n{d['source']}", f"{d['score']:.4f}", " ".join(d["text"].split())[:160])
    console.print(table)
