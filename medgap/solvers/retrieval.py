"""Level 2 `retrieval`: hybrid search (BM25 over jieba tokens + dense e5 vectors) in a knowledge base;
the top passages go into the prompt, numbered and with their sources, ahead of the item.

The query is the item as written — question, options in their original order, case text — so
every option order of an item retrieves the same passages. The default knowledge base is the
shipped drug-contraindication KB; `MEDGAP_KB` or the run's `kb` setting names another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medgap.records import Sample
from medgap.solvers.base import Solver, TaskState
from medgap.solvers.common import edit_question, prompt_step

if TYPE_CHECKING:  # the KB (numpy, the kb extra) loads only when a run asks for retrieval
    from medgap.kb import Hit, KnowledgeBase

DEFAULT_PASSAGES = 3

HEADER = (
    "以下是从知识库检索到的参考资料，可能与题目相关，也可能无关。请先判断相关性，"
    "只采用相关且可靠的内容，不要编造资料中没有的信息。\n\n{passages}\n\n———\n\n"
)
PASSAGE = "[{number}] {title}（来源：{source}）\n{text}"

TEXTS = {"retrieval.header": HEADER, "retrieval.passage": PASSAGE}


def retrieval_query(sample: Sample) -> str:
    return "\n".join(part for part in (sample.question, *sample.options.values(), sample.context or "") if part)


def format_passages(hits: list[Hit]) -> str:
    return "\n\n".join(
        PASSAGE.format(number=i, title=hit.passage.title, source=hit.passage.source, text=hit.passage.text.strip())
        for i, hit in enumerate(hits, start=1)
    )


def hit_notes(hits: list[Hit]) -> dict:
    return {"passages": [h.passage.id for h in hits], "scores": [round(h.score, 6) for h in hits]}


def retrieval(kb: KnowledgeBase, passages: int = DEFAULT_PASSAGES) -> Solver:
    def add_passages(state: TaskState) -> None:
        hits = kb.search(retrieval_query(state.sample), k=passages)
        state.notes["retrieval"] = hit_notes(hits)
        if hits:
            edit_question(state, lambda content: HEADER.format(passages=format_passages(hits)) + content)

    return prompt_step(add_passages)
