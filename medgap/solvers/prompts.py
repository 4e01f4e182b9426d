"""MedBench-style Chinese prompts: each item kind's template comes from its `KindSpec`
(`medgap/kinds/`); every run records the templates it used."""

from __future__ import annotations

from functools import cache

CONTEXT_PREFIX = "病例资料：\n{context}\n\n"


@cache
def templates() -> dict[str, str]:
    """Sample kind -> prompt template, every kind's."""
    from medgap.kinds import all_specs

    return {kind: template for spec in all_specs() for kind, template in spec.prompts.items()}


def format_options(options: dict[str, str]) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def render(kind: str, question: str, options: dict[str, str], context: str | None = None) -> str:
    """The user message for one item as asked."""
    try:
        template = templates()[kind]
    except KeyError:
        raise ValueError(f"no prompt template for item kind {kind!r}") from None
    context_block = CONTEXT_PREFIX.format(context=context.strip()) if context else ""
    return template.format(question=question.strip(), options=format_options(options), context=context_block)
