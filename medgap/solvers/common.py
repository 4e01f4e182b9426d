"""Small pieces the intervention solvers share: editing the question message, asking the model again
on other messages, and adding up the cost of several calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from medgap.records import Message, Response
from medgap.solvers.base import Generate, Solver, TaskState

#: `Generate -> Generate`: wraps every model call of a chain's answer step (json, self_consistency, verify)
GenerateWrapper = Callable[[Generate], Generate]


def question_index(state: TaskState) -> int:
    """Index of the message holding the item (the last user message the prompt step wrote)."""
    for index in range(len(state.messages) - 1, -1, -1):
        if state.messages[index].role == "user":
            return index
    raise ValueError("the chain has no user message to change: put interventions after the prompt step")


def edit_question(state: TaskState, change: Callable[[str], str]) -> None:
    index = question_index(state)
    state.messages[index] = Message(role="user", content=change(state.messages[index].content))


def wants_text_answer(state: TaskState) -> None:
    """Interventions that need the model to write (reason, JSON, revise) answer choice items by
    generating text: letter log-probabilities would skip what they add."""
    if state.sample.is_choice and state.config.choice_mode != "generate":
        state.config = state.config.model_copy(update={"choice_mode": "generate"})
        state.notes["choice_mode"] = "generate"


async def ask_on(state: TaskState, generate: Generate, messages: Sequence[Message], **config) -> TaskState:
    """One more model call for the same attempt on other `messages` (and config changes), in a
    copy of `state`: `state` itself is left as it was. The copy's `response` is always set."""
    side = dataclasses.replace(
        state,
        messages=list(messages),
        response=None,
        notes={},
        config=state.config.model_copy(update=config) if config else state.config,
    )
    side = await generate(side)
    if side.response is None:
        side.response = Response(error="the model call returned no response")
    return side


def with_total_usage(final: Response, calls: Sequence[Response]) -> Response:
    """`final` with latency and token counts summed over every call made for it."""
    prompt = [r.prompt_tokens for r in calls if r.prompt_tokens is not None]
    completion = [r.completion_tokens for r in calls if r.completion_tokens is not None]
    return final.model_copy(
        update={
            "latency_s": sum(r.latency_s for r in calls),
            "prompt_tokens": sum(prompt) if prompt else None,
            "completion_tokens": sum(completion) if completion else None,
        }
    )


def prompt_step(change: Callable[[TaskState], None]) -> Solver:
    """A solver that edits the messages before the model is called."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        change(state)
        return state

    return solve
