"""Level 1 `cot`: chain-of-thought. The model reasons step by step before it gives the answer in
the format the item's prompt asks for (choice items still end with “答案：X”). Fill-in, extraction
and record items are left alone: their scorers read a bare answer or a fixed format."""

from __future__ import annotations

from medgap.solvers.base import Solver, TaskState
from medgap.solvers.common import edit_question, prompt_step, wants_text_answer

CHOICE = "\n\n请一步一步地推理：先梳理题干中的关键信息和相关医学知识，再推出结论，最后一行以“答案：X”的格式给出答案。"
OPEN = "\n\n请一步一步地推理：先梳理题干中的关键信息和相关医学知识，写出推理过程，再给出最终回答。"

TEXTS = {"cot.choice": CHOICE, "cot.open": OPEN}


def add_reasoning_request(state: TaskState) -> None:
    kind = state.sample.kind
    variant = "choice" if state.sample.is_choice else "open" if kind == "open" else None
    state.notes["cot"] = variant or "not_applicable"
    if variant is None:
        return
    wants_text_answer(state)
    edit_question(state, lambda content: content + TEXTS[f"cot.{variant}"])


def cot() -> Solver:
    return prompt_step(add_reasoning_request)
