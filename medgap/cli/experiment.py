"""`medgap experiment`, `compare`, `interventions`: A/B experiments with paired statistics."""

from __future__ import annotations

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
    console,
    err_console,
    fail,
    open_store,
    print_json,
)
from medgap.cli.run import command_line, db_args, progress_bar, report_skip, stops_cleanly
from medgap.evaluate import (
    RunSetupError,
    chain_for,
    claim_run,
    executor_session,
    generation_config,
    matcher_for,
    new_run_id,
    open_backend,
    open_executor,
    plan_run,
    run_suite,
)
from medgap.models import DEFAULT_MODEL
from medgap.records import DIMENSION_LABELS_ZH, RunConfig
from medgap.runner import DEFAULT_MAX_FAILURES
from medgap.solvers.interventions import INTERVENTIONS, InterventionSettings, parse_names
from medgap.store import RunBusy

ARMS = ("baseline", "treatment")


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


def arm_config(store, run_id: str, model: str, names: list[str]) -> RunConfig | None:
    """The stored config of an arm being resumed (checked against the request), or None."""
    if not store.has_run(run_id):
        return None
    config = store.run_config(run_id)
    if config.model != model or config.interventions != names:
        raise fail(f"run {run_id!r} exists with model {config.model!r} and interventions "
                   f"{','.join(config.interventions) or 'plain'}; choose another --run-id")
    return config


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
    settings = InterventionSettings(kb=str(kb) if kb else None)
    with open_store(db, must_exist=False) as store:
        planned: dict[str, tuple[RunConfig, list]] = {}
        try:
            for arm in ARMS:
                arm_id = f"{name}-{arm}"
                config = arm_config(store, arm_id, model, arm_names[arm])
                if config is not None:
                    planned[arm] = (config, store.samples(arm_id))
                    continue
                config, samples = plan_run(model, suite, run_id=arm_id, limit=limit, limit_per_task=limit_per_task,
                                           permutations=permutations, seed=seed, interventions=arm_names[arm],
                                           on_skip=report_skip, settings=settings, match=match, judge=judge)
                config.extra["experiment"] = {"name": name, "arm": arm, **{a: arm_names[a] or ["plain"] for a in ARMS}}
                assert samples is not None  # without `base`, plan_run always loads the suite
                planned[arm] = (config, samples)
            align_arms(store, planned)
            with executor_session(executor, ray_address):  # one Ray cluster for both arms
                for arm in ARMS:
                    config, samples = planned[arm]
                    backend = open_backend(config, base_url=base_url, timeout=timeout,
                                           max_concurrency=max_concurrency, max_rps=max_rps)
                    gen = generation_config(config, backend, temperature=temperature, max_tokens=max_tokens,
                                            timeout=timeout, choice_mode=choice_mode)
                    chain = chain_for(config)
                    matcher = matcher_for(config, base_url=base_url, timeout=timeout)
                    asker = open_executor(config, gen, backend, executor=executor, workers=workers, address=ray_address,
                                          concurrency=max_concurrency, base_url=base_url, timeout=timeout,
                                          max_rps=max_rps)
                    again = command_line("medgap", "experiment", "--run-id", name, *db_args(db))
                    resume = f"`{again}` with the same options"
                    with (
                        stops_cleanly(store, config.run_id, resume),
                        claim_run(store, config, samples, backend, gen, named=True) as owned,
                        progress_bar(quiet) as (_, callbacks),
                    ):
                        err_console.print(f"{arm}: run [bold]{escape(config.run_id)}[/] "
                                          f"({escape(','.join(config.interventions) or 'plain')})", highlight=False)
                        run_suite(store, owned.config, owned.samples, backend, gen, concurrency=max_concurrency,
                                  progress=callbacks, chain=chain, matcher=matcher, max_failures=max_failures,
                                  holder=owned.lease.holder, executor=asker)
        except (RunSetupError, RunBusy) as exc:
            raise fail(str(exc)) from None
        result = compare_runs(store, f"{name}-baseline", f"{name}-treatment")
    print_comparison(result, as_json)


def align_arms(store, planned: dict[str, tuple[RunConfig, list]]) -> None:
    """Both arms ask the same option orders: the larger count (voting needs at least five)."""
    wanted = max(config.permutations for config, _ in planned.values())
    for config, _ in planned.values():
        if config.permutations != wanted:
            if store.has_run(config.run_id):
                raise RunSetupError(f"run {config.run_id!r} was asked under {config.permutations} option orders, "
                                    f"the other arm needs {wanted}; start a new experiment (--run-id)")
            config.permutations = wanted
    ids = [{s.id for s in samples} for _, samples in planned.values()]
    if ids[0] != ids[1]:
        raise RunSetupError("the two arms would ask different items; start a new experiment (--run-id)")


@app.command()
def interventions() -> None:
    """List the interventions `--intervention` and `--treatment` accept, by level."""
    table = Table("name", "level", "what it does")
    for item in sorted(INTERVENTIONS.values(), key=lambda i: i.level):
        table.add_row(item.name, str(item.level), item.summary)
    console.print(table)
    console.print("Level 4 (causal reasoning) is research: `medgap diagnose` names it, no intervention claims it.")
