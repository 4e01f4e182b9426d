"""`medgap experiment`, `compare`, `interventions`: A/B experiments with paired statistics."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from medgap.analysis.experiments import NoSharedItems, compare_runs
from medgap.cli.app import app
from medgap.cli.common import (
    DEFAULT_DB_PATH,
    BaseUrlOption,
    ConcurrencyOption,
    DbOption,
    ExecutorOption,
    JsonOption,
    MaxFailuresOption,
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
from medgap.evaluate import (
    Claim,
    RunOptions,
    RunSetupError,
    executor_session,
    new_run_id,
    plan_arms,
    prepare_run,
)
from medgap.models import DEFAULT_MODEL
from medgap.records import DIMENSION_LABELS_ZH
from medgap.runner import DEFAULT_MAX_FAILURES
from medgap.solvers.interventions import INTERVENTIONS, InterventionSettings, parse_names
from medgap.store import RunBusy


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


TEST_MARKS = {"mcnemar_exact": "ᴹ", "wilcoxon": "ᵂ"}
TEST_NOTE = ("p: ᴹ exact McNemar (right/wrong per item), ᵂ Wilcoxon signed-rank (graded per item); "
             "A/B: items only A / only B got right (or scored higher)")


def comparison_table(result: dict) -> Table:
    """One section per group (overall, then each dimension); narrow enough for an 80-column terminal."""
    title = f"A = {escape(result['run_a'])}   B = {escape(result['run_b'])}   ({result['items']} shared items)"
    table = Table(title=title, title_justify="left", caption=TEST_NOTE, caption_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for column in ("metric", "A", "B", "B − A [95% CI]", "p", "A/B", "n"):
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    groups = {"overall": result["overall"], **result["dimensions"]}
    for group, metrics in groups.items():
        table.add_row(f"[bold]{DIMENSION_LABELS_ZH.get(group, group)}[/]")
        for name, m in metrics.items():
            table.add_row(
                f"  {name}", f"{m['a']:.3f}", f"{m['b']:.3f}",
                f"{m['diff']:+.3f} [{m['ci_low']:+.2f}, {m['ci_high']:+.2f}]",
                fmt_p(m["p_value"]) + TEST_MARKS[m["test"]], f"{m['a_only']}/{m['b_only']}", str(m["n"]),
            )
    return table


def print_comparison(result: dict, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    console.print(comparison_table(result))
    for warning in result.get("warnings", []):
        err_console.print(f"[yellow]note:[/] {escape(warning)}", highlight=False)


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run A (e.g. the baseline).")],
    run_b: Annotated[str, typer.Argument(help="Run B (e.g. the treatment); differences are B − A.")],
    db: DbOption = DEFAULT_DB_PATH,
    as_json: JsonOption = False,
) -> None:
    """Paired comparison of two runs of the same suite: per dimension and metric, both values, the
    difference with a 95% paired-bootstrap CI, an exact McNemar or Wilcoxon test, and how many
    items changed each way."""
    with open_store(db) as store:
        try:
            result = compare_runs(store, run_a, run_b)
        except NoSharedItems as exc:
            raise fail(str(exc)) from None
    print_comparison(result, as_json)


@app.command()
def experiment(
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="PROVIDER/NAME of the model both arms ask."),
    ] = DEFAULT_MODEL,
    suite: Annotated[
        str,
        typer.Option("--suite", "-s", help="Bundled suite name, suite YAML file, or data file/folder."),
    ] = "demo",
    baseline: Annotated[
        str,
        typer.Option("--baseline", "-a", help="Arm A: 'plain' or comma-separated interventions."),
    ] = "plain",
    treatment: str = typer.Option(  # required: no default, yet it must stay in this place among the options
        ..., "--treatment", "-b", help="Arm B: 'plain' or comma-separated interventions, e.g. checklist,cot."
    ),
    db: DbOption = DEFAULT_DB_PATH,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1,
            help="At most N items in all, taken from every task in turn (the same items in both arms).",
        ),
    ] = None,
    limit_per_task: Annotated[
        int | None,
        typer.Option("--limit-per-task", min=1, help="At most N items per task (the same items in both arms)."),
    ] = None,
    permutations: Annotated[
        int | None,
        typer.Option(
            "--permutations", "-k",
            help="Option orders per choice item, the same in both arms (default: the suite's; 5 or more when an arm "
            "votes).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for item sampling and option orders, shared by both arms."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Experiment name: the arms are stored as NAME-baseline and NAME-treatment; an existing name resumes "
            "them.",
        ),
    ] = None,
    kb: Annotated[
        Path | None,
        typer.Option(
            "--kb",
            help="Knowledge base for retrieval/verify: a `medgap kb build` file or a markdown folder (default: "
            "$MEDGAP_KB, else the shipped drug-contraindication KB).",
        ),
    ] = None,
    max_concurrency: ConcurrencyOption = None,
    max_rps: MaxRpsOption = None,
    max_failures: MaxFailuresOption = DEFAULT_MAX_FAILURES,
    executor: ExecutorOption = "inprocess",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    base_url: BaseUrlOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Sampling temperature (self_consistency uses 0.7 when this is 0; default: 0.0, or the run's own "
            "when resuming).",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="Cap on generated tokens per call (default: the suite's, else 512)."),
    ] = None,
    timeout: TimeoutOption = 120.0,
    match: Annotated[
        str,
        typer.Option(
            "--match",
            help="How open answers are matched to key points in both arms: medical (default), lexical, embedding, "
            "judge (needs --judge).",
        ),
    ] = "medical",
    judge: Annotated[str | None, typer.Option("--judge", help="Judge model for --match judge, PROVIDER/NAME.")] = None,
    choice_mode: Annotated[
        str | None,
        typer.Option(
            "--choice-mode",
            help="'generate' or 'logprobs' for choice items (default: the backend's; interventions that need written "
            "answers switch to 'generate').",
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run a baseline and a treatment arm on the same items, option orders and seed, store both as
    runs, and compare them with paired statistics (as `medgap compare`)."""
    try:
        arm_names = {"baseline": parse_names(baseline), "treatment": parse_names(treatment)}
    except ValueError as exc:
        raise fail(str(exc)) from None
    name = run_id or new_run_id(model)
    options = RunOptions(base_url=base_url, timeout=timeout, max_concurrency=max_concurrency, max_rps=max_rps,
                         max_failures=max_failures, temperature=temperature, max_tokens=max_tokens,
                         choice_mode=choice_mode, executor=executor, workers=workers, ray_address=ray_address)
    resume = f"`{command_line('medgap', 'experiment', '--run-id', name, *db_args(db))}` with the same options"
    with open_store(db, must_exist=False) as store:
        try:
            planned = plan_arms(store, name, model, suite, arm_names, limit=limit, limit_per_task=limit_per_task,
                                permutations=permutations, seed=seed, on_skip=report_skip,
                                settings=InterventionSettings(kb=str(kb) if kb else None), match=match, judge=judge)
            with executor_session(executor, ray_address):  # one Ray cluster for both arms
                for arm, (config, samples) in planned.items():
                    ask_run(store, prepare_run(config, samples, options), named=True, quiet=quiet,
                            resume=lambda _: resume, announce=partial(announce_arm, arm))
        except (RunSetupError, RunBusy) as exc:
            raise fail(str(exc)) from None
        result = compare_runs(store, f"{name}-baseline", f"{name}-treatment")
    print_comparison(result, as_json)


def announce_arm(arm: str, owned: Claim) -> None:
    err_console.print(f"{arm}: run [bold]{escape(owned.config.run_id)}[/] "
                      f"({escape(','.join(owned.config.interventions) or 'plain')})", highlight=False)


@app.command()
def interventions() -> None:
    """List the interventions `--intervention` and `--treatment` accept, by level."""
    table = Table("name", "level", "what it does")
    for item in sorted(INTERVENTIONS.values(), key=lambda i: i.level):
        table.add_row(item.name, str(item.level), item.summary)
    console.print(table)
    console.print("Level 4 (causal reasoning) is research: `medgap diagnose` names it, no intervention claims it.")
