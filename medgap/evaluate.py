"""Set up and run an evaluation: the library behind `medgap run` and `medgap experiment`.

    config, samples = plan_run("mock/oracle", "demo", interventions=["cot"])
    prepared = prepare_run(config, samples, RunOptions(max_concurrency=8))
    with prepared.claim(store, named=False) as run:
        summary = execute(store, prepared, run)

On Ray workers: `RunOptions(executor="ray", workers=4)`. The steps `prepare_run` takes one by one
(`open_backend`, `generation_config`, `chain_for`, `matcher_for`, `open_executor`) serve code that
needs only some of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgap import __version__
from medgap.analysis.metrics import RunSummary, summarize_run
from medgap.datasets import DatasetError
from medgap.executors import EXECUTORS, Executor
from medgap.models import DEFAULT_MODEL, GenerateConfig, Model, get_model, parse_model_name
from medgap.records import AnswerSettings, RunConfig, Sample
from medgap.runner import DEFAULT_MAX_FAILURES, DEFAULT_MAX_REPLY_BYTES, Progress, run_eval
from medgap.settings import differences
from medgap.solvers import prompts
from medgap.solvers.base import Solver
from medgap.solvers.interventions import (
    KB_ENV,
    InterventionSettings,
    build_chain,
    intervention_texts,
    parse_names,
)
from medgap.solvers.permutations import option_orders
from medgap.solvers.voting import MIN_VOTE_ORDERS
from medgap.store import Lease, RunBusy, RunInfo, Store
from medgap.store.lease import Holder

if TYPE_CHECKING:
    from medgap.scoring.matching import Matcher

VOTE_MODES = ("permutations",)
ARMS = ("baseline", "treatment")  # an experiment's two runs
DEFAULT_SUITE = "demo"
PLANNED_EXTRA = ("intervention_settings", "judge", "vote", "backend")  # extra keys plan_run sets


class RunSetupError(ValueError):
    """A run that cannot start; the message is meant for the user."""


def new_run_id(model: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model).strip("-")[:40]
    return f"{slug}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def versions() -> dict[str, str]:
    return {"medgap": __version__, "python": platform.python_version()}


def plan_run(
    model: str | None,
    suite: str | None,
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
    match: str | None = None,
    judge: str | None = None,
    base: RunConfig | None = None,
) -> tuple[RunConfig, list[Sample] | None]:
    """The config and items of a run (nothing is stored yet). `interventions` is a list or a
    comma-separated string (`plain` = none); the `vote` intervention implies `vote="permutations"`.
    The knowledge base defaults to $MEDGAP_KB when `settings` does not name one. `match` is how
    open answers meet key points (`judge` names the judge model for `match="judge"`).

    With `base` (the stored config of a run being resumed), options left None keep the base's values
    and the suite is loaded only when `suite` is given (the items come back None otherwise): the
    config is then what this command line asks, to compare with `base` (`medgap.settings.differences`)."""
    from medgap.datasets.suites import load_suite
    from medgap.scoring import DEFAULT_MATCH, MATCH_METHODS

    if base is not None:
        model = model or base.model
        seed = base.seed if seed is None else seed
        permutations = permutations or base.permutations
        limit = base.limit if limit is None else limit
        limit_per_task = base.limit_per_task if limit_per_task is None else limit_per_task
        interventions = base.interventions if interventions is None else interventions
        match = match or base.match
        judge = judge or base.extra.get("judge")
        vote = vote or base.extra.get("vote")
        settings = settings or InterventionSettings.from_dict(base.extra.get("intervention_settings"))
    model, match = model or DEFAULT_MODEL, match or DEFAULT_MATCH
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
    loaded = None
    if suite is not None or base is None:
        try:
            loaded = load_suite(suite or DEFAULT_SUITE, limit=limit, limit_per_task=limit_per_task,
                                dimension=dimension, format=data_format, skip_bad=skip_bad, on_skip=on_skip)
        except (DatasetError, FileNotFoundError, ValueError) as exc:
            raise RunSetupError(str(exc)) from None
        if not loaded.samples:
            raise RunSetupError(f"suite {suite or DEFAULT_SUITE!r} has no items")
    if loaded is not None:
        suite_name, suite_seed, suite_permutations = loaded.name, loaded.seed, loaded.permutations
    else:
        assert base is not None  # the suite goes unloaded only when resuming `base`
        suite_name, suite_seed, suite_permutations = base.suite, base.seed, base.permutations
    settings = settings or InterventionSettings()
    kb = settings.kb or os.environ.get(KB_ENV)
    if kb:  # recorded absolute, so a resumed run finds it from any folder
        settings = dataclasses.replace(settings, kb=str(Path(kb).expanduser().resolve()))
    config = RunConfig(
        run_id=run_id or (base.run_id if base else new_run_id(model)),
        model=model,
        suite=suite_name,
        seed=seed if seed is not None else suite_seed,
        permutations=permutations or suite_permutations,
        limit=limit,
        limit_per_task=limit_per_task,
        interventions=names,
        match=match,
        prompts={**prompts.templates(), **intervention_texts(names)},
        versions=versions(),
        created=base.created if base else datetime.now(UTC).isoformat(timespec="seconds"),
        generation=dict(base.generation) if base else {},
        extra={k: v for k, v in base.extra.items() if k not in PLANNED_EXTRA} if base else {},
    )
    if loaded is not None and loaded.max_tokens and base is None:
        config.generation["max_tokens"] = loaded.max_tokens
    if names:
        config.extra["intervention_settings"] = settings.to_dict()
    if judge:
        config.extra["judge"] = judge
    if skip_bad:  # kept for the backend too: replay/ skips bad prediction lines (and on resume)
        config.extra["skip_bad"] = True
    if vote or "vote" in names:
        config.permutations = max(config.permutations, MIN_VOTE_ORDERS)
        config.extra["vote"] = vote or "permutations"
    return config, loaded.samples if loaded else None


def open_backend(config: RunConfig, *, base_url: str | None = None, timeout: float | None = None,
                 max_concurrency: int | None = None, max_rps: float | None = None,
                 on_skip: Callable[[DatasetError], None] | None = None,
                 max_reply_bytes: int | None = DEFAULT_MAX_REPLY_BYTES) -> Model:
    """The run's model. A replay/ model of a run made with `skip_bad` skips bad prediction lines,
    reporting each to `on_skip` (default: the log)."""
    data_options = {}
    if parse_model_name(config.model)[0] == "replay" and config.extra.get("skip_bad"):
        data_options = {"skip_bad": True, "on_skip": on_skip}
    try:
        backend = get_model(config.model, base_url=base_url, timeout=timeout, max_concurrency=max_concurrency,
                            max_rps=max_rps, **data_options)
    except (ValueError, ImportError) as exc:
        raise RunSetupError(str(exc)) from None
    backend.max_reply_bytes = max_reply_bytes or None
    return backend


def open_executor(config: RunConfig, gen: GenerateConfig, backend: Model, *, executor: str = "inprocess",
                  workers: int | None = None, address: str | None = None, concurrency: int | None = None,
                  base_url: str | None = None, timeout: float | None = None,
                  max_rps: float | None = None) -> Executor | None:
    """The executor asking the run's model calls: None for the default in-process one, or a Ray
    executor of `workers` actors (default: one per CPU of the cluster) sharing `concurrency` and
    `max_rps`; the model options are those given to `open_backend`."""
    if executor not in EXECUTORS:
        raise RunSetupError(f"--executor takes one of {', '.join(EXECUTORS)}, not {executor!r}")
    if executor == "inprocess":
        if workers is not None or address:
            raise RunSetupError("--workers and --ray-address need --executor ray")
        return None
    if workers is not None and workers < 1:
        raise RunSetupError(f"--workers must be at least 1, not {workers}")
    from medgap.executors.ray import RayExecutor, require_ray

    try:
        require_ray()
    except ImportError as exc:
        raise RunSetupError(str(exc)) from None
    return RayExecutor(config, gen, workers=workers, address=address,
                       concurrency=concurrency or backend.default_concurrency,
                       model_options={"base_url": base_url, "timeout": timeout, "max_rps": max_rps,
                                      "max_reply_bytes": backend.max_reply_bytes})


@contextlib.contextmanager
def executor_session(executor: str, address: str | None = None) -> Iterator[None]:
    """Around several runs (an experiment's arms): one Ray cluster connection for all of them."""
    if executor != "ray":
        yield
        return
    from medgap.executors.base import WorkerFailed
    from medgap.executors.ray import cluster

    try:
        session = cluster(address)
        session.__enter__()
    except (ImportError, WorkerFailed) as exc:
        raise RunSetupError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        stack.push(session)
        yield


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
    """The key-point matcher of the run (None = the default one, `medical`); `judge_options` go to
    the judge model's constructor (base_url, timeout, ...)."""
    from medgap.scoring import DEFAULT_MATCH

    judge = config.extra.get("judge") if config.match in ("judge", DEFAULT_MATCH) else None
    if config.match == DEFAULT_MATCH and not judge:
        return None
    from medgap.scoring.matching import get_matcher

    try:
        options = {k: v for k, v in judge_options.items() if v is not None} if judge else {}
        return get_matcher(config.match, judge=judge, **options)
    except (ValueError, ImportError) as exc:
        raise RunSetupError(str(exc)) from None


def settle(config: RunConfig, backend: Model, gen: GenerateConfig) -> None:
    """Record in `config` how it is asked: the generation settings and the backend."""
    config.generation = gen.model_dump()
    config.extra["backend"] = backend.describe()
    config.answer_settings = answer_settings(config, gen, backend)


def count_attempts(samples: list[Sample], config: RunConfig) -> int:
    """Rows the run will hold: an item's option orders (without building its attempts)."""
    return sum(len(option_orders(sample, config.permutations, config.seed)) for sample in samples)


def free_run_id(store: Store, run_id: str) -> str:
    """`run_id`, or `run_id-2`, `-3`, ... when it is taken."""
    candidate, n = run_id, 1
    while store.has_run(candidate):
        n += 1
        candidate = f"{run_id}-{n}"
    return candidate


def unfinished_twin(store: Store, config: RunConfig) -> RunInfo | None:
    """The newest stored run with exactly `config`'s settings that is not complete."""
    for info in reversed(store.run_infos()):
        if info.status != "complete" and not differences(info.config, config):
            return info
    return None


def other_settings(run_id: str, changed: list[str]) -> RunSetupError:
    return RunSetupError(f"run {run_id!r} was made with other settings; this command asks " + "; ".join(changed)
                         + ". Resume it with its own settings, or start another run (--force-new, or a new --run-id)")


def check_resume(base: RunConfig, asked: RunConfig) -> None:
    """Refuse a resume whose planned settings already differ, before the backend is opened (a local
    model is loaded then); generation, backend and answer settings are compared again by `claim_run`."""
    later = ("generation.", "extra.backend", "answer_settings")
    changed = [line for line in differences(base, asked) if not line.startswith(later)]
    if changed:
        raise other_settings(base.run_id, changed)


def plan_resumable(store: Store, model: str | None, suite: str | None, *, run_id: str | None, force_new: bool = False,
                   **plan: Any) -> tuple[RunConfig, list[Sample] | None]:
    """`plan_run` for `medgap run`: a stored `run_id` (unless `force_new`) is the base whose settings the
    options left out keep, and a resume asking other settings is refused before any backend is opened."""
    base = store.run_config(run_id) if run_id and not force_new and store.has_run(run_id) else None
    config, samples = plan_run(model, suite, run_id=run_id, base=base, **plan)
    if base is not None:
        check_resume(base, config)
    return config, samples


def plan_arms(store: Store, name: str, model: str, suite: str, arms: dict[str, list[str]],
              **plan: Any) -> dict[str, tuple[RunConfig, list[Sample]]]:
    """The arms of experiment `name` (`arms`: the interventions of each of ARMS), stored as NAME-baseline
    and NAME-treatment: a stored arm is resumed with its own config and items, a new one planned with
    `plan_run(**plan)`; both ask the same items under the same option orders."""
    planned = {}
    for arm in ARMS:
        arm_id = f"{name}-{arm}"
        stored = arm_config(store, arm_id, model, arms[arm])
        if stored is not None:
            planned[arm] = (stored, store.samples(arm_id))
            continue
        config, samples = plan_run(model, suite, run_id=arm_id, interventions=arms[arm], **plan)
        config.extra["experiment"] = {"name": name, "arm": arm, **{a: arms[a] or ["plain"] for a in ARMS}}
        assert samples is not None  # without `base`, plan_run always loads the suite
        planned[arm] = (config, samples)
    align_arms(store, planned)
    return planned


def arm_config(store: Store, run_id: str, model: str, names: list[str]) -> RunConfig | None:
    """The stored config of an arm being resumed (checked against the request), or None."""
    if not store.has_run(run_id):
        return None
    config = store.run_config(run_id)
    if config.model != model or config.interventions != names:
        raise RunSetupError(f"run {run_id!r} exists with model {config.model!r} and interventions "
                            f"{','.join(config.interventions) or 'plain'}; choose another --run-id")
    return config


def align_arms(store: Store, planned: dict[str, tuple[RunConfig, list[Sample]]]) -> None:
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


@dataclass(frozen=True)
class RunOptions:
    """How a run's model is asked: the settings `medgap run` and each arm of `medgap experiment` take
    from the command line (the generation ones are stored with the run; a resumed run keeps its own
    where these are None)."""

    base_url: str | None = None
    timeout: float = 120.0
    max_concurrency: int | None = None
    max_rps: float | None = None
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    max_failures: int = DEFAULT_MAX_FAILURES
    temperature: float | None = None
    max_tokens: int | None = None
    choice_mode: str | None = None
    executor: str = "inprocess"
    workers: int | None = None
    ray_address: str | None = None


@dataclass
class PreparedRun:
    """A planned run with everything that asks it opened and nothing stored yet; `claim` it, then `execute`."""

    config: RunConfig
    samples: list[Sample] | None  # None: a resumed run, asked on its stored items
    backend: Model
    gen: GenerateConfig
    chain: list[Solver]
    matcher: Matcher | None  # None: the default (`medical`)
    executor: Executor | None  # None: in this process
    options: RunOptions

    def claim(self, store: Store, *, named: bool, force_new: bool = False) -> contextlib.AbstractContextManager[Claim]:
        """`claim_run` for this run."""
        return claim_run(store, self.config, self.samples, self.backend, self.gen, named=named, force_new=force_new)


def prepare_run(config: RunConfig, samples: list[Sample] | None, options: RunOptions | None = None, *,
                on_skip: Callable[[DatasetError], None] | None = None) -> PreparedRun:
    """Open the model, generation settings, solver chain, matcher and executor of a planned run (from
    `plan_run`), failing with RunSetupError on any of them before anything is stored. `on_skip` hears
    of the bad prediction lines a replay/ model skips."""
    o = options or RunOptions()
    backend = open_backend(config, base_url=o.base_url, timeout=o.timeout, max_concurrency=o.max_concurrency,
                           max_rps=o.max_rps, on_skip=on_skip, max_reply_bytes=o.max_reply_bytes)
    gen = generation_config(config, backend, temperature=o.temperature, max_tokens=o.max_tokens, timeout=o.timeout,
                            choice_mode=o.choice_mode)
    chain = chain_for(config)
    matcher = matcher_for(config, base_url=o.base_url, timeout=o.timeout)
    executor = open_executor(config, gen, backend, executor=o.executor, workers=o.workers, address=o.ray_address,
                             concurrency=o.max_concurrency, base_url=o.base_url, timeout=o.timeout, max_rps=o.max_rps)
    return PreparedRun(config, samples, backend, gen, chain, matcher, executor, o)


def execute(store: Store, prepared: PreparedRun, claim: Claim, progress: Progress | None = None) -> RunSummary:
    """Ask what the claimed run (`prepared.claim(...)`) still lacks; the run's summary."""
    o = prepared.options
    return run_suite(store, claim.config, claim.samples, prepared.backend, prepared.gen,
                     concurrency=o.max_concurrency, progress=progress, chain=prepared.chain, matcher=prepared.matcher,
                     max_failures=o.max_failures, max_reply_bytes=o.max_reply_bytes, holder=claim.lease.holder,
                     executor=prepared.executor)


@dataclass
class Claim:
    """A run this process owns while it asks it: the stored config and items, and the lease."""

    config: RunConfig
    samples: list[Sample]
    lease: Lease
    resumed: bool
    twin: bool = False  # resumed because it had the same settings (no --run-id given)


@contextlib.contextmanager
def claim_run(store: Store, config: RunConfig, samples: list[Sample] | None, backend: Model, gen: GenerateConfig, *,
              named: bool, force_new: bool = False) -> Iterator[Claim]:
    """Own the run that `config` asks for until the block ends, then record how it ended.

    `named`: the user chose `config.run_id`; an existing run of that id is resumed, and refused with
    the list of differences if this command asks it with other settings. Without a name, the newest
    unfinished run with the same settings is resumed, else a new run is made. `force_new` always makes
    a new run (`ID-2`, ... when the id is taken). Raises RunBusy when another live process holds the
    run, RunSetupError on different settings; a new run's config and items are stored in one
    transaction once the lease is held."""
    settle(config, backend, gen)
    twin = None
    if force_new:
        target = free_run_id(store, config.run_id)
    elif named:
        target = config.run_id
    else:
        twin = unfinished_twin(store, config)
        target = twin.config.run_id if twin else free_run_id(store, config.run_id)
    config.run_id = target
    prior = store.run_state(target)
    try:
        lease = Lease(store, target).__enter__()
    except RunBusy as exc:
        if twin is not None:
            exc.args = (f"{exc} (it is the unfinished run with these settings; --force-new starts another run)",)
        raise
    with contextlib.ExitStack() as stack:
        stack.push(lease)
        if store.has_run(target):
            stored = store.run_config(target)
            changed = differences(stored, config)
            if changed:
                lease.status, lease.message = (prior.status, prior.message) if prior else ("stopped", None)
                raise other_settings(target, changed)
            claim = Claim(stored, store.samples(target), lease, resumed=True, twin=twin is not None)
        else:
            if samples is None:
                raise RunSetupError(f"run {target!r} no longer exists; pass --suite to start it again")
            store.create_run(config, samples, attempts=count_attempts(samples, config))
            claim = Claim(store.run_config(target), samples, lease, resumed=False)
        try:
            yield claim
        except KeyboardInterrupt:
            lease.status = "stopped"
            raise
        except BaseException as exc:
            lease.status, lease.message = "failed", str(exc)[:500]
            raise
        missing = count_attempts(claim.samples, claim.config) - len(store.completed_keys(target))
        lease.status = "complete" if missing <= 0 else "failed"
        lease.message = f"{missing} items failed; run again to retry them" if missing > 0 else None


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
    except (ValueError, OSError, ImportError) as exc:  # unknown name, unreadable KB or pool, the kb extra missing
        raise RunSetupError(str(exc)) from None


def run_suite(store: Store, config: RunConfig, samples: list[Sample], backend: Model, gen: GenerateConfig, *,
              concurrency: int | None = None, progress: Progress | None = None, chain=None, matcher=None,
              max_failures: int = DEFAULT_MAX_FAILURES, max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
              holder: Holder | None = None, executor: Executor | None = None) -> RunSummary:
    """Ask everything not yet stored for `config.run_id`, then return the run's summary. Pass the
    `chain_for(config)` built before `claim_run` to fail on a bad intervention before storing, and
    `matcher_for(config)` when the run matches key points other than by the default (`medical`); `holder` is the
    claim's lease holder (rows are written only while it owns the run). Raises
    `medgap.runner.TooManyFailures` after `max_failures` failed items in a row. `executor` (from
    `open_executor`) asks the model calls elsewhere, e.g. on Ray workers."""
    chain = chain if chain is not None else chain_for(config)
    written = asyncio.run(run_eval(config, samples, backend, store, gen=gen,
                                   concurrency=concurrency or backend.default_concurrency, solvers=chain,
                                   progress=progress, matcher=matcher, max_failures=max_failures,
                                   max_reply_bytes=max_reply_bytes, holder=holder,
                                   executor=executor))
    return summarize_run(store, config.run_id, written=written, samples=samples)
