"""Open-ended and generation tasks: each task family's scores charted per task."""

from __future__ import annotations

from medgap.analysis.metrics import GroupSummary
from medgap.kinds import metric
from medgap.kinds.base import ReportSection
from medgap.report.charts import Label, Series, bar_chart, esc
from medgap.report.collect import RunData
from medgap.report.format import DIMENSION_LABELS_EN, bar_of
from medgap.report.metrics_shown import metric_label, task_sections
from medgap.report.sections.layout import Section, panel_section


def family_chart(run: RunData, section: ReportSection, width: int) -> str | None:
    tasks = {t: g for t, g in run.summary.tasks.items() if any(g.value(k) is not None for k in section.chart)}
    if not tasks:
        return None
    groups: list[GroupSummary] = [run.summary.overall, *tasks.values()]
    keys = [k for k in section.chart if any(g.value(k) is not None for g in groups)]
    series = [Series(metric_label(k), [bar_of(g, k) for g in groups]) for k in keys]
    categories = [Label("总体", "Overall")]
    categories += [Label(t, DIMENSION_LABELS_EN.get(g.dimension, "")) for t, g in tasks.items()]
    title = f"{section.en}: scores by task with 95% confidence intervals"
    chart = bar_chart(categories, series, title, width=width, show_legend=True)
    notes = [f"{spec.en}: {spec.about}" for k in keys if (spec := metric(k)) is not None and spec.about]
    return f'<h4>{esc(section.en)}</h4>{chart}<p class="hint">{esc(" ".join(notes))}</p>'


def open_section(runs: list[RunData]) -> Section | None:
    return panel_section("open", "开放题与生成任务", "Open-ended and generation tasks", runs, family_charts)


def family_charts(run: RunData, width: int) -> str | None:
    charts = [family_chart(run, section, width) for section in task_sections()]
    return "".join(c for c in charts if c) or None
