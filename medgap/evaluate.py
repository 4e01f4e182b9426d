"""Set up and run an evaluation: the library behind `medgap run` and `medgap experiment`.

    config, samples = plan_run("mock/oracle", "demo", interventions=["cot"])
    backend = open_backend(config)
    gen = generation_config(config, backend)
    start_run(store, config, samples, backend, gen)
    summary = run_suite(store, config, samples, backend, gen)
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from medgap import __version__
from medgap.analysis.metrics import summarize_run
from medgap.datasets import DatasetError
from medgap.models import GenerateConfig, Model, get_model
from medgap.records import AnswerSettings, RunConfig, Sample
from medgap.runner import DEFAULT_MAX_FAILURES, Progress, run_eval
from medgap.solvers import prompts
from medgap.solvers.base import Solver
from medgap.solvers.interventions import InterventionSettings, build_chain, intervention_texts, parse_names
from medgap.solvers.voting import MIN_VOTE_ORDERS
from medgap.store import Store

VOTE_MODES = ("permutations",)


class RunSetupError(ValueError):
    """A run that cannot start; the message is meant for the user."""


def new_run_id(model: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model).strip("-")[:40]
    return f"{slug}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def versions() -> dict[str, str]:
    return {"medgap": __version__, "python": platform.python_version()}


def plan_run(
    model: str,
    suite: str,
    *,
    run_id: str | None = None,
    limit: int | None = None,
    limit_per_task: int | None = None,
    permutations: int | None = None,
    seed: int | None = None,
    interventions: str | list[str] | None = None,
    data_format: str | None = None,
    dimension: str | None = None,
    skip_bad: bool = False,
    on_skip: Callable[[DatasetError], None] | None = None,
    vote: str | None = None,
    settings: InterventionSettings | None = None,
    match: str = "lexical",
    judge: str | None = None,
) -> tuple[RunConfig, list[Sample]]:
    """The config and items of a new run (nothing is stored yet). `interventions` is a list or a
    comma-separated string (`plain` = none); the `vote` intervention implies `vote="permutations"`.
    The knowledge base defaults to $MEDGAP_KB when `settings` does not name one. `match` is how
    open answers meet key points (`judge` names the judge model for `match="judge"`)."""
    from medgap.datasets.suites import load_suite
    from medgap.kb import KB_ENV
    from medgap.scoring.matching import MATCH_METHODS

    if vote not in (None, *VOTE_MODES):
        raise RunSetupError(f"--vote takes 'permutations', not {vote!r}")
    if match not in MATCH_METHODS:
        raise RunSetupError(f"--match takes one of {', '.join(MATCH_METHODS)}, not {match!r}")
    if match == "judge" and not judge:
        raise RunSetupError("--match judge needs --judge PROVIDER/NAME")
    try:
        names = parse_names(",".join(interventions) if isinstance(interventions, list) else interventions)
    except ValueError as exc:
        raise RunSetupError(str(exc)) from None
    try:
        loaded = load_suite(suite, limit=limit, limit_per_task=limit_per_task, dimension=dimension, format=data_format, skip_bad=skip_bad,
                            on_skip=on_skip)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        raise RunSetupError(str(exc)) from None
    if not loaded.samples:
        raise RunSetupError(f"suite {suite!r} has no items")
    settings = settings or InterventionSettings()
    kb = settings.kb or os.environ.get(KB_ENV)
    if kb:  # recorded absolute, so a resumed run finds it from any folder
        settings = dataclasses.replace(settings, kb=str(Path(kb).expanduser().resolve()))
    config = RunConfig(
        run_id=run_id or new_run_id(model),
        model=model,
        suite=loaded.name,
        seed=loaded.seed if seed is None else seed,
        permutations=permutations or loaded.permutations,
        limit=limit,
        limit_per_task=limit_per_task,
        interventions=names,
        match=match,
        prompts={**prompts.TEMPLATES, **intervention_texts(names)},
        versions=versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if loaded.max_tokens:
        config.generation["max_tokens"] = loaded.max_tokens
    if names:
        config.extra["intervention_settings"] = settings.to_dict()
    if judge:
        config.extra["judge"] = judge
    if vote or "vote" in names:
        config.permutations = max(config.permutations, MIN_VOTE_ORDERS)
        config.extra["vote"] = vote or "permutations"
    return config, loaded.samples


def open_backend(config: RunConfig, *, base_url: str | None = None, timeout: float | None = None,
                 max_concurrency: int | None = None, max_rps: float | None = None) -> Model:
    try:
        return get_model(config.model, base_url=base_url, timeout=timeout, max_concurrency=max_concurrency,
                         max_rps=max_rps)
    except (ValueError, ImportError) as exc:
        raise RunSetupError(str(exc)) from None


def generation_config(config: RunConfig, backend: Model, *, temperature: float | None = None,
                      max_tokens: int | None = None, timeout: float = 120.0,
                      choice_mode: str | None = None) -> GenerateConfig:
    """Settings given on the command line win; then those stored with the run (a resumed run keeps its
    own), the suite's, and the defaults."""
    stored, defaults = config.generation, GenerateConfig()
    return GenerateConfig(
        temperature=temperature if temperature is not None else stored.get("temperature", defaults.temperature),
        max_tokens=max_tokens or stored.get("max_tokens") or defaults.max_tokens,
        timeout_s=timeout,
        choice_mode=choice_mode or stored.get("choice_mode") or backend.default_choice_mode,
        top_p=stored.get("top_p", defaults.top_p),
        repeat_penalty=stored.get("repeat_penalty", defaults.repeat_penalty),
    )


def matcher_for(config: RunConfig, **judge_options):
    """The key-point matcher of the run (None = the default lexical one); `judge_options` go to
    the judge model's constructor (base_url, timeout, ...)."""
    if config.match == "lexical":
        return None
    from medgap.scoring.matching import get_matcher

    try:
        options = {k: v for k, v in judge_options.items() if v is not None} if config.match == "judge" else {}
        return get_matcher(config.match, judge=config.extra.get("judge"), **options)
    except (ValueError, ImportError) as exc:
        raise RunSetupError(str(exc)) from None


def start_run(store: Store, config: RunConfig, samples: list[Sample], backend: Model, gen: GenerateConfig) -> None:
    """Store a new run's config (with the generation settings and backend) and items; a run
    already stored is left as it is (resume)."""
    if store.has_run(config.run_id):
        return
    config.generation = gen.model_dump()
    config.extra["backend"] = backend.describe()
    config.answer_settings = answer_settings(config, gen, backend)
    store.save_run(config)
    store.save_samples(config.run_id, samples)


def answer_settings(config: RunConfig, gen: GenerateConfig, backend: Model) -> AnswerSettings:
    """The run's one record of what can change an answer: the generation settings, the backend's
    part (what it sends or applies), and a system prompt the interventions send."""
    record = {"choice_mode": gen.choice_mode, "temperature": gen.temperature, "top_p": gen.top_p,
              "max_tokens": gen.max_tokens, "seed": gen.seed, **backend.answer_settings(gen)}
    sent = config.prompts.get("safety.system") if "safety" in config.interventions else None
    if sent is not None:  # the template's default is replaced by what is sent
        record.update(system_prompt=sent, system_prompt_source="sent (safety intervention)")
    return AnswerSettings(**record)


def chain_for(config: RunConfig) -> list[Solver]:
    """The run's solver chain; loads what its interventions need (KB, exemplar pool)."""
    try:
        settings = InterventionSettings.from_dict(config.extra.get("intervention_settings"))
        return build_chain(config.interventions, settings)
    except (ValueError, OSError) as exc:  # unknown name, unreadable KB or exemplar pool
        raise RunSetupError(str(exc)) from None


def run_suite(store: Store, config: RunConfig, samples: list[Sample], backend: Model, gen: GenerateConfig, *,
              concurrency: int | None = None, progress: Progress | None = None, chain=None, matcher=None,
              max_failures: int = DEFAULT_MAX_FAILURES) -> dict:
    """Ask everything not yet stored for `config.run_id`, then return the run's summary. Pass the
    `chain_for(config)` built before `start_run` to fail on a bad intervention before storing, and
    `matcher_for(config)` when the run matches key points other than lexically. Raises
    `medgap.runner.TooManyFailures` after `max_failures` failed requests in a row."""
    chain = chain if chain is not None else chain_for(config)
    written = asyncio.run(run_eval(config, samples, backend, store, gen=gen,
                                   concurrency=concurrency or backend.default_concurrency, solvers=chain,
                                   progress=progress, matcher=matcher, max_failures=max_failures))
    return summarize_run(store, config.run_id, written=written, samples=samples)
