"""Level 3 `verify`: verify-then-revise. After the model drafts its answer, passages are retrieved
for the item and the draft, and a second call shows the model its draft with the passages: revise
where they conflict, keep the draft otherwise, and answer again in the item's format. The revised
reply is what gets scored; the row records the passages, the draft and whether the answer changed.

A failed revision call keeps the draft (noted as `verify.error`); a failed draft is returned as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medgap.records import Message, Response
from medgap.scoring.choice import chosen_letters
from medgap.solvers.base import Generate, TaskState
from medgap.solvers.common import GenerateWrapper, ask_on, with_total_usage
from medgap.solvers.retrieval import DEFAULT_PASSAGES, format_passages, retrieval_query

if TYPE_CHECKING:
    from medgap.kb import KnowledgeBase

DRAFT_QUERY_CHARS = 300  # enough of the draft to steer retrieval toward what it claims

REVISE = (
    "请核对你上面的回答是否与下列参考资料相矛盾。\n\n参考资料：\n{passages}\n\n"
    "如果回答与资料中的事实相矛盾，请依据资料修订；如果没有矛盾，或资料与题目无关，请保持原来的回答。"
    "请按原题要求的格式重新给出完整的最终回答，而不是修改说明。"
)

TEXTS = {"verify.revise": REVISE}


def answer_of(state: TaskState, response: Response) -> str:
    """What the scorer would take from a reply: letters for choice items, the stripped text otherwise."""
    if state.sample.is_choice:
        return chosen_letters(state.attempt, response, state.sample.kind == "multi") or ""
    return response.text.strip()


def verify(kb: KnowledgeBase, passages: int = DEFAULT_PASSAGES) -> GenerateWrapper:
    def wrap(generate: Generate) -> Generate:
        async def draft_then_revise(state: TaskState) -> TaskState:
            state = await generate(state)
            draft = state.response
            if draft is None or draft.error:
                return state
            query = f"{retrieval_query(state.sample)}\n{draft.text[:DRAFT_QUERY_CHARS]}"
            hits = kb.search(query, k=passages)
            note: dict = {"passages": [h.passage.id for h in hits], "draft": draft.text}
            state.notes["verify"] = note
            if not hits:
                return state
            instruction = REVISE.format(passages=format_passages(hits))
            messages = [*state.messages, Message(role="assistant", content=draft.text),
                        Message(role="user", content=instruction)]
            revised = (await ask_on(state, generate, messages, choice_mode="generate")).response
            assert revised is not None  # ask_on always sets one
            if revised.error:
                note["error"] = revised.error
                state.response = with_total_usage(draft, [draft, revised])
                return state
            note["changed"] = answer_of(state, revised) != answer_of(state, draft)
            state.response = with_total_usage(revised.model_copy(update={"logprobs": None}), [draft, revised])
            return state

        return draft_then_revise

    return wrap
