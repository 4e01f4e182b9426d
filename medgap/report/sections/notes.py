"""What the page leaves out, and why."""

from __future__ import annotations

from medgap.report.charts import esc
from medgap.report.collect import RunData
from medgap.report.sections.layout import Section


def notes_section(runs: list[RunData], extra: dict[str, str]) -> Section | None:
    titles = {
        "robustness": "稳健性 Robustness",
        "open": "开放题与生成任务 Open-ended and generation tasks",
        "errors": "错误类型 Error categories",
        "diagnosis": "诊断 Diagnosis",
        "compare": "配对比较 Paired comparison",
    }
    notes: dict[str, list[str]] = {}
    for run in runs:
        for key, why in run.notes.items():
            prefix = f"{run.name}: " if len(runs) > 1 else ""
            notes.setdefault(key, []).append(prefix + why)
    for key, why in extra.items():
        notes.setdefault(key, []).append(why)
    if not notes:
        return None
    items = "".join(
        f"<li><strong>{esc(titles.get(k, k))}</strong> — {esc('; '.join(v))}</li>" for k, v in notes.items()
    )
    return Section("missing", "未包含的内容", "Not included", f'<ul class="missing">{items}</ul>')


