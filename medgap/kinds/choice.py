"""Single- and multi-answer choice items (MedBench's objective questions).

Accuracy counts an answer that names no option as *unanswered* (not correct, reported apart); every
item can be re-asked under shuffled option orders, which gives robustness, strict and voted accuracy
and a positional-bias profile (`analysis/robustness.py`).
"""

from __future__ import annotations

from medgap.analysis import robustness as orders
from medgap.kinds.aggregates import count_metric, mean_metric, micro_f1_metrics
from medgap.kinds.base import Estimate, KindSpec, MetricSpec
from medgap.records import Attempt, Row, Sample
from medgap.scoring.choice import score_choice

CLOSE_CALL_NATS = 0.1  # log-prob decisions closer than this can flip with another build's numerics


def unanswered(row: Row) -> float | None:
    return float(row.unanswered) if row.graded else None


def answered_value(row: Row) -> float | None:
    return row.score.value if row.graded and not row.unanswered else None


def margin(row: Row) -> float | None:
    found = row.score.details.get("logprob_margin")
    return found if row.graded and found is not None else None


def median_margin(rows: list[Row]) -> Estimate | None:
    margins = sorted(m for row in rows if (m := margin(row)) is not None)
    return Estimate(value=margins[(len(margins) - 1) // 2], n=len(margins)) if margins else None


def oracle_reply(sample: Sample, attempt: Attempt) -> str:
    gold = attempt.gold_letters or []
    return f"答案：{''.join(gold)}" if gold else "无法确定。"


METRICS: tuple[MetricSpec, ...] = (
    mean_metric("accuracy", "准确率", "Accuracy", ci="binomial", headline=True, primary=True,
                about="Share of graded choice rows answered right; unanswered rows count as not right."),
    mean_metric("unanswered", "未作答率", "Unanswered", unanswered, ci="binomial", compare=False,
                about="Rows whose answer names no option (not a failed call)."),
    mean_metric("accuracy_answered", "作答准确率", "Accuracy when answered", answered_value, ci="binomial",
                compare=False),
    MetricSpec("voted_accuracy", "投票准确率", "Voted accuracy", orders.voted_accuracy,
               about="One answer per item: the option content chosen most often over its orders.",
               units=orders.voted_units, test="mcnemar_exact"),
    MetricSpec("strict_accuracy", "严格准确率", "Strict accuracy", orders.strict_accuracy, headline=True,
               about="Items answered right under every option order (CircularEval)."),
    MetricSpec("robustness", "稳健性", "Robustness", orders.robustness, headline=True,
               about="Items answered with the same content under every option order (MedBench robustness).",
               units=orders.consistency_units, test="mcnemar_exact"),
    *micro_f1_metrics("multi_", "多选", "Multi-answer", lambda row: row.kind == "multi"),
    MetricSpec("median_margin", "中位差距 (nats)", "Median log-prob margin (nats)", median_margin,
               unit="number"),
    count_metric("close_calls", f"差距 < {CLOSE_CALL_NATS} nats", f"decided by < {CLOSE_CALL_NATS} nats",
                 lambda row: (margin(row) or 0.0) < CLOSE_CALL_NATS, counted=lambda row: margin(row) is not None,
                 show_zero=True, about="Log-probability answers with the chosen option less than "
                 f"{CLOSE_CALL_NATS} nats above the runner-up."),
)

SPEC = KindSpec(
    name="choice",
    kinds=("single", "multi"),
    prompts={
        "single": (
            "以下是中国医学考试的单项选择题，请选出其中唯一的正确答案，并以“答案：X”的格式给出。\n\n"
            "{context}{question}\n{options}"
        ),
        "multi": (
            "以下是中国医学考试的多项选择题，正确答案有两个或两个以上，请选出全部正确答案，"
            "并以“答案：XY”的格式给出。\n\n{context}{question}\n{options}"
        ),
    },
    scorer=score_choice,
    metrics=METRICS,
    section=None,  # choice items have the dimension table, robustness and positional-bias sections
    oracle_reply=oracle_reply,
    details=orders.robustness_details,
    answer_hints={"single": "唯一正确选项的字母，如 B", "multi": "全部正确选项的字母，按字母顺序连写，如 ACD"},
    order=0,
)
