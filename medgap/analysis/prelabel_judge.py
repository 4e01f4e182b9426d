"""The judge model of the pre-labels: it re-reads a rule label not backed by strong mechanical evidence
and names the error category with the codebook in its prompt. A failing call or an unusable reply
leaves the rule label in place."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from medgap.analysis.taxonomy import CATEGORIES, CONSEQUENCES, DECISION_ORDER, ErrorLabel, category_key
from medgap.models.base import GenerateConfig, Model, ModelRequest
from medgap.records import CHOICE_KINDS, Message, Row, Sample
from medgap.scoring.reply import body_of, json_in
from medgap.solvers.prompts import format_options

JUDGE_CONFIG = GenerateConfig(temperature=0.0, max_tokens=300)
RATIONALE_CHARS = 200
JUDGE_INSTRUCTIONS = """你是医学大模型评测的错误分析专家。下面是一道题、参考答案和一个被评为错误或部分正确的模型回答。
请按照错误分类codebook，为这个回答选出一个主要错误类别（category），可选若干次要类别（secondary），并用不超过60字说明理由（rationale）。
规则预标注已给出机械可判定的证据，仅供参考；请阅读回答本身作出判断。
只输出一个JSON对象，不要输出其他内容，例如：
{"category": "hallucination", "secondary": ["omission"], "rationale": "……"}

错误分类codebook（category 取值为英文key）：
"""


def codebook_text() -> str:
    categories = "\n".join(
        f"- {c.key}（{c.name_zh}，{c.name}）：{c.definition_zh} 区分：{c.decision_rule}" for c in CATEGORIES
    )
    rules = "\n".join(f"* {line}" for line in (*DECISION_ORDER, *CONSEQUENCES))
    return f"{categories}\n\nRules:\n{rules}"


def _limit(text: str | None, chars: int) -> str:
    text = text or ""
    return text if len(text) <= chars else text[:chars] + "……（截断）"


def gold_text(row: Row, sample: Sample | None) -> str:
    if row.kind in CHOICE_KINDS:
        return "".join(row.attempt.gold_letters or [])
    gold = sample.gold if sample is not None else None
    if gold is None:
        return ""
    if gold.reference:
        return gold.reference
    return json.dumps(gold.structure, ensure_ascii=False) if gold.structure is not None else ""


def judge_messages(row: Row, sample: Sample | None, rule: ErrorLabel) -> list[Message]:
    parts = [f"【任务】{row.task}（{row.kind}）"]
    if sample is not None and sample.context:
        parts.append(f"【材料/病例】\n{_limit(sample.context, 2000)}")
    parts.append(f"【题目】\n{_limit(sample.question if sample else '', 1500)}")
    if row.attempt.options:
        parts.append("【选项】\n" + format_options(row.attempt.options))
    parts.append(f"【参考答案】\n{_limit(gold_text(row, sample), 1500)}")
    parts.append(f"【模型回答】\n{_limit(row.response.text, 2500)}")
    missed = row.score.details.get("missed") or []
    if missed:
        parts.append("【未覆盖的要点】\n" + "\n".join(f"- {point}" for point in missed))
    parts.append(f"【规则预标注】{rule.category}（{rule.confidence}）：{rule.rationale}")
    return [
        Message(role="system", content=JUDGE_INSTRUCTIONS + codebook_text()),
        Message(role="user", content="\n\n".join(parts)),
    ]


def parse_error_verdict(text: str) -> tuple[str, list[str], str] | None:
    """(category, secondary, rationale) from a judge reply holding one JSON object; None if unusable."""
    reply = json_in(body_of(text))
    if not isinstance(reply, dict) or not isinstance(reply.get("category"), str):
        return None
    primary = category_key(reply["category"])
    if primary is None:
        return None
    extra = reply.get("secondary") or []
    secondary = (
        [key for key in (category_key(s) for s in extra if isinstance(s, str)) if key]
        if isinstance(extra, list)
        else []
    )
    rationale = " ".join(str(reply.get("rationale") or "").split())[:RATIONALE_CHARS]
    return primary, secondary, rationale


@dataclass(frozen=True)
class JudgeCase:
    row: Row
    sample: Sample | None
    rule: ErrorLabel


def needs_judge(label: ErrorLabel) -> bool:
    """Rule labels not backed by strong mechanical evidence go to the judge."""
    return label.source == "rule" and label.confidence != "high"


async def judge_one(model: Model, case: JudgeCase) -> ErrorLabel | None:
    if case.sample is None:
        return None
    request = ModelRequest(
        messages=judge_messages(case.row, case.sample, case.rule),
        config=JUDGE_CONFIG,
        attempt=case.row.attempt,
        sample=case.sample,
    )
    try:
        response = await model.generate(request)
    except Exception:  # noqa: BLE001  (a failing judge leaves the rule label in place)
        return None
    if response.error is not None:
        return None
    parsed = parse_error_verdict(response.text)
    if parsed is None:
        return None
    primary, secondary, rationale = parsed
    mechanical = [case.rule.category] if case.rule.confidence != "low" else []
    return ErrorLabel(
        category=primary,
        secondary=[*secondary, *mechanical, *case.rule.secondary],
        source="judge",
        rule=f"judge:{model.name}",
        rationale=rationale,
        confidence="medium",
    )


async def judge_labels(
    model: Model,
    cases: Sequence[JudgeCase],
    concurrency: int = 8,
    on_done: Callable[[int, ErrorLabel | None], None] | None = None,
) -> list[ErrorLabel | None]:
    """The judge's label for each case, in order; None where the judge failed or replied unusably."""
    gate = asyncio.Semaphore(max(1, concurrency))
    results: list[ErrorLabel | None] = [None] * len(cases)

    async def run(index: int) -> None:
        async with gate:
            results[index] = await judge_one(model, cases[index])
        if on_done is not None:
            on_done(index, results[index])

    try:
        await asyncio.gather(*(run(i) for i in range(len(cases))))
    finally:
        await model.aclose()
    return results
