"""Fill-in items (MTCMB 填空): right when every expected fact is in the answer (`scoring/fill.py`)."""

from __future__ import annotations

from medgap.kinds.aggregates import mean_metric
from medgap.kinds.base import KindSpec, ReportSection, reference_reply, scorer_in

SPEC = KindSpec(
    name="fill",
    kinds=("fill",),
    prompts={"fill": "以下是一道医学填空题，请直接给出空格处应填写的内容，不要解释。\n\n{context}{question}"},
    scorer=scorer_in("medgap.scoring.fill", "score_fill"),
    metrics=(
        mean_metric("fill_accuracy", "填空准确率", "Fill-in accuracy", ci="binomial", headline=True, primary=True,
                    about="Share of blanks filled as expected."),
    ),
    section=ReportSection("填空题", "Fill-in answers", ("fill_accuracy",)),
    oracle_reply=reference_reply,
    answer_hints={"fill": "空格处应填写的内容"},
    order=20,
)
