"""Open-ended items (MedBench's subjective questions: CMB-Clin cases, MTCMB answers).

Scored by macro-recall of the reference key points (per item: share of its points the answer
covers, then averaged over items; `scoring/open.py`, points decided by the `--match` method) and
ROUGE-L against the reference answer. When rows were scored by several matching methods (`medgap
rescore`), Cohen's κ between methods shows whether a cheap one can stand in for the judge.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from medgap.analysis.match_agreement import MethodAgreement, all_agreements
from medgap.kinds.aggregates import count_metric, detail, flagged, mean_metric
from medgap.kinds.base import KindSpec, ReportSection, matcher_scorer_in, reference_reply, scorer_in
from medgap.records import Row


class OpenDetails(BaseModel):
    model_config = ConfigDict(defer_build=True)  # schema built on first use: only runs with open items need it

    match_method: str | None = None  # methods that decided the key points, comma-separated
    points_total: int = 0
    points_missed: int = 0
    match_agreement: dict[str, MethodAgreement] = {}  # "a~b" -> κ between two methods


def open_details(rows: list[Row]) -> OpenDetails | None:
    answered = [r for r in rows if r.kind == "open" and not r.errored]
    if not answered:
        return None
    methods = sorted({str(m) for r in answered if (m := r.score.details.get("match_method"))})
    return OpenDetails(
        match_method=",".join(methods) or None,
        points_total=sum(len(r.score.details.get("covered") or []) for r in answered),
        points_missed=sum(len(r.score.details.get("missed") or []) for r in answered),
        match_agreement=all_agreements(answered),
    )


SPEC = KindSpec(
    name="open",
    kinds=("open",),
    prompts={"open": "以下是一道医学问答题，请根据题目给出完整、准确、条理清晰的回答。\n\n{context}问题：{question}"},
    scorer=scorer_in("medgap.scoring.open", "score_open"),
    matcher_scorer=matcher_scorer_in("medgap.scoring.open", "score_open_async"),
    metrics=(
        mean_metric("macro_recall", "要点召回率", "Macro recall", detail("recall"), over="items", headline=True,
                    primary=True, about="Share of the reference key points a response covers, averaged over items."),
        mean_metric("rouge_l", "ROUGE-L", "ROUGE-L", detail("rouge_l"), over="items", headline=True,
                    about="Longest-common-subsequence F-score against the reference, on single characters "
                    "(as MedBench and OpenCompass compute it)."),
        count_metric("judge_errors", "裁判失败", "Judge errors", flagged("judge_error"),
                     about="Rows whose key points the judge could not decide (the fallback matcher did)."),
    ),
    section=ReportSection("开放题", "Open-ended answers", ("macro_recall", "rouge_l")),
    oracle_reply=reference_reply,
    details=open_details,
    answer_hints={"open": "完整的回答"},
    order=10,
)
