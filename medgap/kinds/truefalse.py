"""True/false statements (判断题): the model says whether a medical statement is right.

Data: any file the generic loader reads, with `"kind": "truefalse"` and an answer that names the
verdict (`正确`/`错误`, `对`/`错`, `√`/`×`, `是`/`否`, `T`/`F`, `true`/`false`). A reply is read at its
answer marker ("答案：错误"), else its first verdict word; a reply with neither is *unanswered*
(counted apart, never silently as wrong).
"""

from __future__ import annotations

import re

from medgap.kinds.aggregates import mean_metric
from medgap.kinds.base import KindSpec, ReportSection
from medgap.records import Attempt, Gold, Response, Row, Sample, Score

VERDICTS = {
    "正确": "正确", "对": "正确", "是": "正确", "√": "正确", "✓": "正确", "true": "正确", "t": "正确",
    "错误": "错误", "错": "错误", "否": "错误", "×": "错误", "✗": "错误", "false": "错误", "f": "错误",
}
_WORDS = "|".join(sorted((re.escape(word) for word in VERDICTS), key=len, reverse=True))
_MARKED = re.compile(rf"(?:答案|判断|结论)\s*(?:是|为)?\s*[：:]?\s*({_WORDS})(?![a-z])", re.IGNORECASE)
_FIRST = re.compile(r"(正确|错误|不正确|不对|√|×|✓|✗)")


def verdict_of(text: str) -> str | None:
    """正确 or 错误 as the reply states it; None when it states neither."""
    marked = _MARKED.search(text)
    if marked:
        return VERDICTS[marked.group(1).lower()]
    first = _FIRST.search(text)
    if first is None:
        return None
    word = first.group(1)
    return "错误" if word.startswith("不") else VERDICTS[word]


def check_gold(gold: Gold) -> None:
    """Raise ValueError when the answer names no verdict."""
    if (gold.text or "").strip().lower() not in VERDICTS:
        raise ValueError(f"a truefalse answer is one of 正确/错误 (or 对/错, √/×, T/F), not {gold.text!r}")


def score_truefalse(sample: Sample, attempt: Attempt, response: Response) -> Score:
    said = verdict_of(response.text)
    if sample.gold is None:
        return Score(extracted=said, details={"ungraded": True})
    gold = VERDICTS[(sample.gold.text or "").strip().lower()]
    return Score(extracted=said, value=float(said == gold), details={"gold": gold, "unanswered": said is None})


def unanswered(row: Row) -> float | None:
    return float(row.score.extracted is None) if row.graded else None


def oracle_reply(sample: Sample, attempt: Attempt) -> str:
    gold = sample.gold.text if sample.gold else None
    return f"答案：{VERDICTS[gold.strip().lower()]}" if gold else ""


SPEC = KindSpec(
    name="truefalse",
    kinds=("truefalse",),
    prompts={"truefalse": (
        "以下是一道医学判断题，请判断下面的说法是否正确，并以“答案：正确”或“答案：错误”的格式给出。\n\n"
        "{context}{question}"
    )},
    scorer=score_truefalse,
    metrics=(
        mean_metric("judgement_accuracy", "判断题准确率", "True/false accuracy", ci="binomial", headline=True,
                    primary=True, about="Share of statements judged right; a reply with no verdict is not right."),
        mean_metric("judgement_unanswered", "判断题未作答率", "True/false unanswered", unanswered, ci="binomial",
                    compare=False, about="Replies that state no verdict."),
    ),
    section=ReportSection("判断题", "True/false statements", ("judgement_accuracy", "judgement_unanswered")),
    oracle_reply=oracle_reply,
    check_gold=check_gold,
    answer_hints={"truefalse": "正确 或 错误"},
    order=25,
)
