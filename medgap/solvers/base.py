"""Solvers turn a sample into model calls and back, as small chainable steps (inspect_ai's shape).

A solver is `async (state, generate) -> state`. `generate` calls the model on `state.messages` and
sets `state.response`. The default chain is `[user_prompt(), generate_answer()]`; interventions are
solvers inserted around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from medgap.models.base import GenerateConfig
from medgap.records import Attempt, Message, Response, Sample
from medgap.solvers import prompts


@dataclass
class TaskState:
    sample: Sample
    attempt: Attempt
    config: GenerateConfig
    messages: list[Message] = field(default_factory=list)
    response: Response | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # solver outputs worth keeping with the row


Generate = Callable[[TaskState], Awaitable[TaskState]]
Solver = Callable[[TaskState, Generate], Awaitable[TaskState]]


def user_prompt() -> Solver:
    """Append the kind's MedBench-style prompt as the user message."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        sample, attempt = state.sample, state.attempt
        text = prompts.render(sample.kind, sample.question, attempt.options, sample.context)
        state.messages.append(Message(role="user", content=text))
        return state

    return solve


def generate_answer() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return await generate(state)

    return solve


async def run_chain(solvers: list[Solver], state: TaskState, generate: Generate) -> TaskState:
    for solver in solvers:
        state = await solver(state, generate)
    return state


def default_chain() -> list[Solver]:
    return [user_prompt(), generate_answer()]
