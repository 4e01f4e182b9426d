"""Medical-record items (医学语言生成: dialogue -> medical record).

Mean section coverage, mean key-point recall within sections (the rows' value) with a bootstrap CI
over items, mean ROUGE-L, and how many records had possible hallucinations or no readable sections.
Scoring: `scoring/record.py`.
"""

from __future__ import annotations

from typing import Any

from medgap.kinds.aggregates import count_metric, flagged, graded_detail, mean_metric
from medgap.kinds.base import KindSpec, ReportSection, matcher_scorer_in, scorer_in
from medgap.records import Attempt, Sample


def record_text(structure: Any) -> str:
    """`主诉：…` lines from a record's gold sections: `{section: text}` (a value may be
    `{"text": …}`) or MedBench's `[{"type": section, "entity": text}]`."""
    if isinstance(structure, str):
        return structure
    if isinstance(structure, dict):
        pairs = list(structure.items())
    else:
        pairs = [(entry.get("type") or entry.get("section"), entry.get("entity") or entry.get("text"))
                 for entry in structure if isinstance(entry, dict)]
    lines = []
    for section, value in pairs:
        text = value.get("text", "") if isinstance(value, dict) else value
        lines.append(f"{section}：{text if text is not None else ''}")
    return "\n".join(lines)


def oracle_reply(sample: Sample, attempt: Attempt) -> str:
    gold = sample.gold
    if gold is None:
        return ""
    return record_text(gold.structure) if gold.structure is not None else gold.reference


SPEC = KindSpec(
    name="record",
    kinds=("record",),
    prompts={"record": (
        "以下是一道病历书写题，请根据医患对话书写病历：每个部分单独成段，段首写部分名称和冒号，"
        "例如“主诉：……”“现病史：……”，只写对话中有依据的信息。\n\n{context}{question}"
    )},
    scorer=scorer_in("medgap.scoring.record", "score_record"),
    matcher_scorer=matcher_scorer_in("medgap.scoring.record", "score_record_async"),
    metrics=(
        mean_metric("record_recall", "病历要点召回率", "Record recall", headline=True, primary=True,
                    about="Key points covered within the right sections."),
        mean_metric("section_coverage", "章节覆盖率", "Section coverage", graded_detail("section_coverage", 0.0),
                    ci="none", compare=False, about="Required sections present."),
        mean_metric("record_rouge_l", "病历 ROUGE-L", "Record ROUGE-L", graded_detail("rouge_l", 0.0), ci="none",
                    about="ROUGE-L against the reference record."),
        count_metric("records_with_suspect_spans", "疑似幻觉", "Records with suspect spans", flagged("hallucinated"),
                     counted=lambda row: row.graded),
        count_metric("record_format_errors", "无可读章节", "Records without readable sections",
                     flagged("format_error"), counted=lambda row: row.graded),
    ),
    section=ReportSection("病历书写", "Medical records", ("record_recall", "section_coverage", "record_rouge_l")),
    oracle_reply=oracle_reply,
    order=40,
)
