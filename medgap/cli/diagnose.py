"""`medgap diagnose`: name the failure signatures a run shows and the interventions to try."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from medgap.analysis.diagnosis import RULES, RulesFileError, diagnose_run, load_rules
from medgap.cli.app import app
from medgap.cli.common import DEFAULT_DB_PATH, DbOption, JsonOption, console, fail, open_store, print_json
from medgap.records import DIMENSION_LABELS_ZH


def number(finding: dict) -> str:
    value, threshold = finding["value"], finding["threshold"]
    percent = "p_value" not in finding["metric"] and 0 <= threshold <= 1

    def show(v: float) -> str:
        return f"{v:.0%}" if percent else f"{v:.3g}"

    text = f"{finding['metric']} = {show(value)} {finding['op']} {show(threshold)}"
    if finding["ci_low"] is not None:
        text += f" (95% CI {show(finding['ci_low'])}–{show(finding['ci_high'])})"
    if finding["support"] is not None:
        text += f", n = {finding['support']}"
    if finding.get("low_confidence"):
        text += f"; {finding['low_confidence']} of its {finding['labels']} labels are low-confidence guesses"
    return text


def findings_table(result: dict) -> Table:
    table = Table(title=f"failure signatures · run {escape(result['run_id'])}", title_justify="left")
    for column in ("#", "signature", "scope", "evidence", "try, in order"):
        table.add_column(column, overflow="fold")
    for f in result["findings"]:
        tried = " → ".join(f"{i['name']} (L{i['level']})" for i in f["interventions"]) or (
            "Level 4: research" if f["level"] == 4 else "see advice")
        signature = f"{f['signature']} [to review]" if f.get("to_review") else f["signature"]
        table.add_row(str(f["rank"]), signature, DIMENSION_LABELS_ZH.get(f["scope"], f["scope"]), number(f), tried)
    return table


@app.command()
def diagnose(
    run_id: Annotated[str, typer.Argument(help="The run to diagnose.")],
    db: DbOption = DEFAULT_DB_PATH,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="YAML file changing the rule table (thresholds, new rules, `enabled: false`); "
            "see medgap/analysis/diagnosis.py.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read a run's metrics and error distribution, name the failure signatures it shows with the
    numbers behind them, and rank the interventions to try (`medgap experiment` tests them)."""
    try:
        table = load_rules(rules) if rules else RULES
    except RulesFileError as exc:
        raise fail(str(exc)) from None
    with open_store(db) as store:
        result = diagnose_run(store, run_id, table)
    if as_json:
        print_json(result)
        return
    if not result["findings"]:
        console.print(f"run {escape(run_id)}: no failure signature crosses its threshold", highlight=False)
    else:
        console.print(findings_table(result))
        for f in result["findings"]:
            if f.get("to_review"):
                console.print(f"[yellow]{f['rank']}. {f['signature']}: to review[/] — rests mostly on low-confidence "
                              f"pre-labels ({f['low_confidence']} of {f['labels']}); check them with `medgap annotate "
                              f"{run_id}` or `medgap errors {run_id} --judge MODEL` before acting on it",
                              highlight=False)
                continue
            console.print(f"[bold]{f['rank']}. {f['signature']}[/] — {f['advice']}", highlight=False)
        console.print(f"plan: {' → '.join(result['plan']) or '(no intervention; see the advice)'}", highlight=False)
        if result["plan"]:
            console.print(f"test it: medgap experiment --model {escape(result['model'])} "
                          f"--suite {escape(result['suite'])} --baseline plain --treatment {result['plan'][0]}",
                          highlight=False, soft_wrap=True)
    for item in result["unchecked"]:
        console.print(f"[dim]not checked: {item['rule']} ({item['scope']}): {item['reason']}[/]", highlight=False)
