"""`medgap rescore` and `medgap agreement`: match a stored run's open answers again (embedding, or a
judge model) and compare the methods' covered/missed decisions (Cohen's κ)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from medgap.analysis.match_agreement import MethodAgreement, agreement, all_agreements
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
from medgap.scoring import MATCH_METHODS
from medgap.store import Lease


def agreement_table(agreements: dict[str, MethodAgreement]) -> Table:
    table = Table(title="agreement of key-point decisions (Cohen's κ)", title_justify="left")
    for column in ("methods", "rows", "points", "agreement", "κ [95% CI]", "covered (a / b)"):
        table.add_column(column, justify="left" if column == "methods" else "right")
    for found in agreements.values():
        a, b = found.methods
        kappa = "undefined" if found.kappa is None else (
            f"{found.kappa:.3f} [{found.kappa_ci_low:.3f}, {found.kappa_ci_high:.3f}]")
        rates = found.covered_rate
        table.add_row(f"{a} vs {b}", str(found.rows), str(found.points), f"{found.observed_agreement:.3f}",
                      kappa, f"{rates[a]:.3f} / {rates[b]:.3f}")
    return table


def _check_method(method: str) -> None:
    if method not in MATCH_METHODS:
        raise fail(f"--match must be one of {', '.join(MATCH_METHODS)}, not {method!r}")


@app.command()
def rescore(
    run_id: Annotated[str, typer.Argument(help="The stored run whose open-ended answers to match again.")],
    match: Annotated[
        str, typer.Option("--match", help=f"Key-point matching method: {', '.join(MATCH_METHODS)}.")
    ] = "judge",
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge", help="Judge model for --match judge, PROVIDER/NAME (e.g. openai/qwen-max, local/default)."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for an openai/ judge.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout of the judge in seconds.")] = 120.0,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", "-c", help="Judge requests in flight (default: 4).")
    ] = None,
    keep_method: Annotated[
        bool,
        typer.Option(
            "--keep-method",
            help="Only store this method's decisions beside the current ones (for agreement); "
            "the run's recall stays as it is.",
        ),
    ] = False,
    db: DbOption = DEFAULT_DB_PATH,
    as_json: JsonOption = False,
) -> None:
    """Match the key points of a run's open-ended answers with another method and store the
    decisions on each row; by default the method then scores the run. Shows agreement with the
    methods already stored. Judge replies that stay malformed after retries are counted as judge errors."""
    from medgap.scoring.open import rescore_run

    _check_method(match)
    if match == "judge" and not judge:
        raise fail("--match judge needs --judge PROVIDER/NAME")
    options: dict[str, Any] = (
        {"base_url": base_url, "timeout": timeout, "max_concurrency": max_concurrency} if match == "judge" else {}
    )
    with open_store(db) as store:
        store.run_config(run_id)
        try:
            with Lease(store, run_id, keep_status=True):  # not while a process is asking the run
                report = asyncio.run(rescore_run(store, run_id, match, judge, primary=not keep_method,
                                                 concurrency=max_concurrency or 4, **options))
        except (ValueError, ImportError) as exc:
            raise fail(str(exc)) from None
        agreements = all_agreements(store.rows(run_id))
    if as_json:
        print_json({"run_id": run_id, "method": match, "rescored": report.rescored, "skipped": report.skipped,
                    "judge_errors": report.judge_errors, "errors": report.errors,
                    "agreement": {key: found.model_dump() for key, found in agreements.items()}})
        return
    err_console.print(f"rescored {report.rescored} open rows of {escape(run_id)} with {escape(match)}"
                      + (f"; skipped {report.skipped} (failed calls or no key points)" if report.skipped else ""),
                      highlight=False)
    if report.judge_errors:
        err_console.print(f"[yellow]{report.judge_errors} rows got no valid judge reply (judge errors, not scored):[/]")
        for line in report.errors[:10]:
            err_console.print(f"  {line}", highlight=False, markup=False)
    if agreements:
        console.print(agreement_table(agreements))
    console.print(f"`medgap results {escape(run_id)}` shows the scores", highlight=False)


@app.command("agreement")
def agreement_command(
    run_id: Annotated[str, typer.Argument(help="The stored run to compare matching methods on.")],
    method_a: Annotated[str | None, typer.Option("--a", help="First method (default: every pair stored).")] = None,
    method_b: Annotated[str | None, typer.Option("--b", help="Second method.")] = None,
    db: DbOption = DEFAULT_DB_PATH,
    as_json: JsonOption = False,
) -> None:
    """Cohen's κ between key-point matching methods run on the same rows (see `medgap rescore`)."""
    if (method_a is None) != (method_b is None):
        raise fail("give both --a and --b, or neither")
    with open_store(db) as store:
        rows = [r for r in store.rows(run_id) if r.kind == "open"]
    if method_a is not None and method_b is not None:  # both or neither, checked above
        _check_method(method_a)
        _check_method(method_b)
        found = agreement(rows, method_a, method_b)
        agreements = {f"{method_a}~{method_b}": found} if found else {}
    else:
        agreements = all_agreements(rows)
    if as_json:
        print_json({key: found.model_dump() for key, found in agreements.items()})
        return
    if not agreements:
        raise fail(f"run {run_id!r} has no open rows scored by two methods; "
                   f"run `medgap rescore {run_id} --match judge --judge …` first")
    console.print(agreement_table(agreements))
