"""Level 1 `checklist`: make the model enumerate the answer points before it concludes.

Omission is the commonest error of medical LLMs on open questions (MedBench error analysis): the
answer is right as far as it goes but skips points the grader looks for. The checklist names them.

- open items with a case (CMB-Clin style): 诊断、诊断依据、鉴别诊断、进一步检查、治疗, one paragraph each;
- other open items: list every point the question asks for, then answer each;
- choice items: judge each option in turn, then answer (analyse-then-answer);
- fill-in, extraction and record items keep their own prompts (their output formats are fixed).
"""

from __future__ import annotations

from medgap.solvers.base import Solver, TaskState
from medgap.solvers.common import edit_question, prompt_step, wants_text_answer

CLINICAL_POINTS = ("诊断", "诊断依据", "鉴别诊断", "进一步检查", "治疗")

CLINICAL = (
    "\n\n请按以下要点逐项作答，每个要点单独成段，并以要点名称开头：\n"
    + "\n".join(f"{i}. {point}：" for i, point in enumerate(CLINICAL_POINTS, start=1))
    + "\n题目只问其中部分要点时，先完整回答所问的要点，其余要点简要说明；逐项写完后再给出结论。"
)
ANSWER_POINTS = (
    "\n\n作答前，请先列出本题需要回答的全部要点（编号列出），再逐条作答，不要遗漏；最后给出简短结论。"
)
OPTIONS = (
    "\n\n请先逐一分析每个选项是否正确（每个选项一行，说明理由），分析完所有选项后，"
    "最后一行以“答案：X”的格式给出答案。"
)

TEXTS = {"checklist.clinical": CLINICAL, "checklist.open": ANSWER_POINTS, "checklist.choice": OPTIONS}


def checklist_variant(state: TaskState) -> str | None:
    sample = state.sample
    if sample.is_choice:
        return "choice"
    if sample.kind == "open":
        return "clinical" if sample.context else "open"
    return None


def add_checklist(state: TaskState) -> None:
    variant = checklist_variant(state)
    state.notes["checklist"] = variant or "not_applicable"
    if variant is None:
        return
    if variant == "choice":
        wants_text_answer(state)
    text = TEXTS[f"checklist.{variant}"]
    edit_question(state, lambda content: content + text)


def checklist() -> Solver:
    return prompt_step(add_checklist)
