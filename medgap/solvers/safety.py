"""Level 2 `safety`: a safety and ethics preamble sent as the system message. It asks for patient
safety, contraindications and special populations, privacy and consent — and, so that a cautious
model does not start refusing exam questions, for an answer in the format the item asks for."""

from __future__ import annotations

from medgap.records import Message
from medgap.solvers.base import Solver, TaskState
from medgap.solvers.common import prompt_step

PREAMBLE = (
    "你是一名严谨、负责的医学专业助手。回答必须符合医学伦理和患者安全原则：\n"
    "1. 不提供可能对患者造成伤害的建议；涉及用药时核对适应证、禁忌证、药物相互作用和剂量；\n"
    "2. 特别注意孕妇、哺乳期妇女、儿童、老年人及肝肾功能不全者等特殊人群；\n"
    "3. 尊重患者的知情同意、自主权和隐私，公平对待每一位患者；\n"
    "4. 对不确定的内容如实说明，不编造事实；急危重症应提示立即就医。\n"
    "在遵守以上原则的前提下，按题目要求的格式直接作答。"
)

TEXTS = {"safety.system": PREAMBLE}


def add_preamble(state: TaskState) -> None:
    """First message becomes the preamble; a system message already there is kept after it."""
    if state.messages and state.messages[0].role == "system":
        state.messages[0] = Message(role="system", content=f"{PREAMBLE}\n\n{state.messages[0].content}")
    else:
        state.messages.insert(0, Message(role="system", content=PREAMBLE))
    state.notes["safety"] = "system_preamble"


def safety() -> Solver:
    return prompt_step(add_preamble)
