"""Interventions: named, composable changes to the solver chain, selectable with
`medgap run --intervention NAME[,NAME]` — the optimization ladder of medgap's diagnosis.

The chain is prompt steps, then the model call. An intervention either
- adds a prompt step just before the first model call (checklist, cot, fewshot, retrieval, safety,
  and the instruction half of json), applied in the order named; or
- wraps the model call's `generate` (json parsing, self_consistency, verify), the first named
  innermost: `json,self_consistency` parses each sample before the vote; `self_consistency,json`
  parses the voted reply.
`vote` changes how the run is asked and aggregated, not the chain (see `medgap.solvers.voting`).
Level 4 (causal reasoning) is research: no intervention claims it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from medgap.solvers import checklist, cot, fewshot, json_output, retrieval, safety, verify, voting
from medgap.solvers.base import Generate, Solver, TaskState, default_chain
from medgap.solvers.common import GenerateWrapper

MODEL_CALL = "_medgap_calls_model"

KB_ENV = "MEDGAP_KB"  # names the knowledge base of runs whose settings name none


@dataclass(frozen=True)
class InterventionSettings:
    """Knobs of the interventions, recorded with the run (`RunConfig.extra["intervention_settings"]`)."""

    kb: str | None = None  # knowledge base for retrieval/verify; None = the shipped one
    passages: int = retrieval.DEFAULT_PASSAGES
    fewshot_pool: str | None = None  # data file/folder of exemplars; None = bundled CMMLU dev
    shots: int = fewshot.DEFAULT_SHOTS
    samples: int = voting.DEFAULT_SAMPLES  # self_consistency
    temperature: float = voting.DEFAULT_TEMPERATURE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> InterventionSettings:
        known = {k: v for k, v in (values or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


Apply = Callable[[list[Solver], InterventionSettings], list[Solver]]


@dataclass(frozen=True)
class Intervention:
    name: str
    level: int
    summary: str
    apply: Apply
    texts: dict[str, str] = field(default_factory=dict)  # prompt texts, recorded in RunConfig.prompts


# chain surgery ---------------------------------------------------------------------------------

def mark_model_call(solver: Solver) -> Solver:
    setattr(solver, MODEL_CALL, True)
    return solver


def calls_model(solver: Solver) -> bool:
    return getattr(solver, MODEL_CALL, False)


def base_chain() -> list[Solver]:
    prompt, answer = default_chain()  # [user_prompt(), generate_answer()]
    return [prompt, mark_model_call(answer)]


def before_model_call(chain: list[Solver], step: Solver) -> list[Solver]:
    index = next((i for i, solver in enumerate(chain) if calls_model(solver)), None)
    if index is None:
        raise ValueError("the chain has no model call to put a prompt step before")
    return [*chain[:index], step, *chain[index:]]


def wrap_model_calls(chain: list[Solver], wrapper: GenerateWrapper) -> list[Solver]:
    """Each model-call step, wrapped whole: `wrapper` sees the step (with every wrapper added
    before it) as its `generate`, so wrappers named later sit outside those named earlier."""

    def wrapped(step: Solver) -> Solver:
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            async def inner(s: TaskState) -> TaskState:
                return await step(s, generate)

            return await wrapper(inner)(state)

        return mark_model_call(solve)

    return [wrapped(solver) if calls_model(solver) else solver for solver in chain]


def _kb(settings: InterventionSettings):
    from medgap.extras import require_extra
    from medgap.kb import load_kb

    require_extra("kb", "the retrieval and verify interventions")
    return load_kb(settings.kb)


# the registry ----------------------------------------------------------------------------------

INTERVENTIONS: dict[str, Intervention] = {
    i.name: i
    for i in (
        Intervention(
            "checklist", 1, "answer-point checklist: 诊断、诊断依据、鉴别诊断、进一步检查、治疗 (open items); "
            "analyse every option, then answer (choice items)",
            lambda chain, s: before_model_call(chain, checklist.checklist()), checklist.TEXTS,
        ),
        Intervention(
            "cot", 1, "chain-of-thought: reason step by step, then answer in the item's format",
            lambda chain, s: before_model_call(chain, cot.cot()), cot.TEXTS,
        ),
        Intervention(
            "json", 1, "strict JSON output {answer, reasoning}: parsed, validated, one repair retry",
            lambda chain, s: wrap_model_calls(before_model_call(chain, json_output.json_prompt()),
                                              json_output.json_answers()),
            json_output.TEXTS,
        ),
        Intervention(
            "fewshot", 1, "worked examples from a dev split (never the item itself) as earlier chat turns",
            lambda chain, s: before_model_call(chain, fewshot.fewshot(s.fewshot_pool, s.shots)),
        ),
        Intervention(
            "retrieval", 2, "hybrid BM25 + dense search in a knowledge base; top passages with sources in the prompt",
            lambda chain, s: before_model_call(chain, retrieval.retrieval(_kb(s), s.passages)), retrieval.TEXTS,
        ),
        Intervention(
            "safety", 2, "safety and ethics constraints as the system message",
            lambda chain, s: before_model_call(chain, safety.safety()), safety.TEXTS,
        ),
        Intervention(
            "self_consistency", 3, "N samples at temperature > 0; majority of the extracted letters, medoid for text",
            lambda chain, s: wrap_model_calls(chain, voting.self_consistency(s.samples, s.temperature)),
        ),
        Intervention(
            "verify", 3, "verify-then-revise: check the draft against retrieved passages in a second call",
            lambda chain, s: wrap_model_calls(chain, verify.verify(_kb(s), s.passages)), verify.TEXTS,
        ),
        Intervention(
            "vote", 3, f"permutation voting: ask choice items under >= {voting.MIN_VOTE_ORDERS} option orders, "
            "report voted_accuracy (run-level; the chain is unchanged)",
            lambda chain, s: chain,
        ),
    )
}


def check_names(names: list[str]) -> None:
    unknown = [name for name in names if name not in INTERVENTIONS]
    if unknown:
        raise ValueError(f"unknown intervention {unknown[0]!r}; known: {', '.join(INTERVENTIONS)}")


def parse_names(text: str | None) -> list[str]:
    """`"checklist, cot"` -> ["checklist", "cot"]; `plain` or empty -> []. Unknown names raise."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    names = [] if names == ["plain"] else names
    check_names(names)
    if len(set(names)) != len(names):
        raise ValueError(f"an intervention is named twice in {text!r}")
    return names


def build_chain(names: list[str], settings: InterventionSettings | None = None) -> list[Solver]:
    """The solver chain with `names` applied in order (resources such as the KB load here, so a
    missing one fails before any model call)."""
    check_names(names)
    settings = settings or InterventionSettings()
    chain = base_chain()
    for name in names:
        chain = INTERVENTIONS[name].apply(chain, settings)
    return chain


def intervention_texts(names: list[str]) -> dict[str, str]:
    """The prompt texts the named interventions may add, for the run's record."""
    return {key: text for name in names for key, text in INTERVENTIONS[name].texts.items()}
