"""MedBench-style Chinese prompt templates, one per item kind. The one place prompts are defined;
every run records the templates it used."""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    "single": (
        "以下是中国医学考试的单项选择题，请选出其中唯一的正确答案，并以“答案：X”的格式给出。\n\n"
        "{context}{question}\n{options}"
    ),
    "multi": (
        "以下是中国医学考试的多项选择题，正确答案有两个或两个以上，请选出全部正确答案，"
        "并以“答案：XY”的格式给出。\n\n{context}{question}\n{options}"
    ),
    "open": "以下是一道医学问答题，请根据题目给出完整、准确、条理清晰的回答。\n\n{context}问题：{question}",
    "fill": "以下是一道医学填空题，请直接给出空格处应填写的内容，不要解释。\n\n{context}{question}",
    "extraction": "以下是一道医学信息抽取题，请严格按照题目要求的格式给出抽取结果，不要解释。\n\n{context}{question}",
    "record": (
        "以下是一道病历书写题，请根据医患对话书写病历：每个部分单独成段，段首写部分名称和冒号，"
        "例如“主诉：……”“现病史：……”，只写对话中有依据的信息。\n\n{context}{question}"
    ),
}

CONTEXT_PREFIX = "病例资料：\n{context}\n\n"


def format_options(options: dict[str, str]) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def render(kind: str, question: str, options: dict[str, str], context: str | None = None) -> str:
    """The user message for one item as asked."""
    try:
        template = TEMPLATES[kind]
    except KeyError:
        raise ValueError(f"no prompt template for item kind {kind!r}") from None
    context_block = CONTEXT_PREFIX.format(context=context.strip()) if context else ""
    return template.format(question=question.strip(), options=format_options(options), context=context_block)
