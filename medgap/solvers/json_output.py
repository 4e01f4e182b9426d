"""Level 1 `json`: strict structured output. The model must reply with one JSON object
(`{"answer": ..., "reasoning": ...}`, reasoning optional, nothing else); the reply is parsed and
validated, an invalid one gets exactly one repair request naming the problem, and the parsed answer
becomes the text the scorer reads (“答案：B” for choice items, the answer string otherwise).

A reply still invalid after the repair is kept as the model wrote it and marked with
`format_error` in the row's details (the error taxonomy reads it as a format mismatch).
Extraction and record items have formats of their own and are left alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from medgap.kinds import answer_hints
from medgap.records import Message, Response
from medgap.scoring.reply import json_only
from medgap.solvers.base import Generate, Solver, TaskState
from medgap.solvers.common import (
    GenerateWrapper,
    ask_on,
    edit_question,
    prompt_step,
    wants_text_answer,
    with_total_usage,
)

# answer first: a backend that stops once "答案：X" is written (local choice items) cannot cut the
# object before the answer field
SCHEMA = '{"answer": "%s", "reasoning": "简要理由（可省略）"}'
INSTRUCTION = (
    "\n\n请只输出一个 JSON 对象，不要输出 JSON 以外的任何文字（可以放在 ```json 代码块中），格式：\n{schema}\n"
    "其中 answer 为必填字段，reasoning 可省略，不要添加其他字段。"
)
REPAIR = "你的回复不符合要求：{error}。请重新输出，只输出一个 JSON 对象，格式：\n{schema}"

TEXTS = {"json.instruction": INSTRUCTION, "json.repair": REPAIR}

_LETTERS = re.compile(r"[A-Z]+")


@dataclass(frozen=True)
class Parsed:
    answer: str
    reasoning: str | None


class InvalidAnswer(ValueError):
    """The reply is not the JSON object asked for; the message is shown to the model."""


def schema_for_kind(kind: str) -> str:
    return SCHEMA % answer_hints()[kind]


def schema_for(state: TaskState) -> str:
    return schema_for_kind(state.sample.kind)


def parse_reply(text: str, state: TaskState) -> Parsed:
    """The validated answer of a reply, or InvalidAnswer saying what is wrong."""
    try:
        reply = json_only(text)
    except json.JSONDecodeError:
        raise InvalidAnswer("回复不是一个合法的 JSON 对象（或 JSON 之外还有其他文字）") from None
    if not isinstance(reply, dict):
        raise InvalidAnswer("回复必须是 JSON 对象 {...}")
    extra = sorted(set(reply) - {"answer", "reasoning"})
    if extra:
        raise InvalidAnswer(f"出现了不允许的字段 {', '.join(extra)}")
    if "answer" not in reply:
        raise InvalidAnswer("缺少必填字段 answer")
    reasoning = reply.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        raise InvalidAnswer("reasoning 必须是字符串")
    answer = reply["answer"]
    if not isinstance(answer, str) or not answer.strip():
        raise InvalidAnswer("answer 必须是非空字符串")
    answer = answer.strip()
    if state.sample.is_choice:
        answer = checked_letters(answer, state)
    return Parsed(answer, reasoning)


def checked_letters(answer: str, state: TaskState) -> str:
    allowed = list(state.attempt.options)
    if not _LETTERS.fullmatch(answer) or any(letter not in allowed for letter in answer):
        raise InvalidAnswer(f"answer 只能由选项字母（{'、'.join(allowed)}）组成，不含其他字符")
    if len(set(answer)) != len(answer):
        raise InvalidAnswer("answer 中有重复的选项字母")
    if state.sample.kind == "single" and len(answer) != 1:
        raise InvalidAnswer("这是单选题，answer 只能是一个选项字母")
    return "".join(sorted(answer))


def scorer_text(parsed: Parsed, state: TaskState) -> str:
    return f"答案：{parsed.answer}" if state.sample.is_choice else parsed.answer


def add_instruction(state: TaskState) -> None:
    if state.sample.kind not in answer_hints():
        state.notes["json"] = {"applied": False}
        return
    wants_text_answer(state)
    edit_question(state, lambda content: content + INSTRUCTION.format(schema=schema_for(state)))


def json_prompt() -> Solver:
    return prompt_step(add_instruction)


def json_answers() -> GenerateWrapper:
    """Parse and validate each answer the wrapped call returns; one repair call when invalid."""

    def wrap(generate: Generate) -> Generate:
        async def parse_or_repair(state: TaskState) -> TaskState:
            state = await generate(state)
            if state.sample.kind not in answer_hints() or state.response is None or state.response.error:
                return state
            first = state.response
            try:
                return accept(state, parse_reply(first.text, state), first, [first], repaired=False)
            except InvalidAnswer as exc:
                first_error = str(exc)
            repair = [*state.messages, Message(role="assistant", content=first.text),
                      Message(role="user", content=REPAIR.format(error=first_error, schema=schema_for(state)))]
            second = (await ask_on(state, generate, repair)).response
            assert second is not None  # ask_on always sets one
            if second.error:
                return reject(state, first, [first, second], first_error)
            try:
                return accept(state, parse_reply(second.text, state), second, [first, second], repaired=True)
            except InvalidAnswer as exc:
                return reject(state, second, [first, second], str(exc), first_error)

        return parse_or_repair

    return wrap


def accept(state: TaskState, parsed: Parsed, reply: Response, calls: list[Response], *, repaired: bool) -> TaskState:
    text = scorer_text(parsed, state)
    state.response = with_total_usage(reply.model_copy(update={"text": text, "logprobs": None}), calls)
    state.notes["json"] = {"valid": True, "repaired": repaired, "raw": reply.text}
    return state


def reject(
    state: TaskState, reply: Response, calls: list[Response], error: str, first_error: str | None = None
) -> TaskState:
    state.response = with_total_usage(reply, calls)
    state.notes["json"] = {"valid": False, "repaired": len(calls) > 1, "error": error,
                           **({"first_error": first_error} if first_error else {})}
    state.notes["format_error"] = f"no valid JSON answer after one repair: {error}"
    return state
