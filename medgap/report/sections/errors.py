"""What went wrong: the error categories per dimension, and the diagnosis's findings."""

from __future__ import annotations

import json

from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS
from medgap.report.charts import Segment, StackRow, esc, stacked_chart
from medgap.report.collect import RunData
from medgap.report.format import category_name, dimension_label, dimension_title
from medgap.report.sections.layout import Section, panel_section

TITLE_KEYS = ("title", "signature", "finding", "summary", "name")
ACTION_KEYS = ("interventions", "recommended", "recommendations")  # fields marked as what to do


def errors_section(runs: list[RunData]) -> Section | None:
    return panel_section("errors", "错误类型分布", "Error categories by dimension", runs, errors_chart)


def errors_chart(run: RunData, width: int) -> str | None:
    """Each dimension's labelled rows by category, the most frequent category first."""
    if not run.error_counts:
        return None
    order = [d for d in DIMENSIONS if d in run.error_counts]
    totals: dict[str, int] = {}
    for counts in run.error_counts.values():
        for category, count in counts.items():
            totals[category] = totals.get(category, 0) + count
    categories = sorted(totals, key=lambda c: -totals[c])
    rows = [
        StackRow(
            dimension_label(d), [Segment(category_name(c), run.error_counts[d].get(c, 0)) for c in categories]
        )
        for d in order
    ]
    chart = stacked_chart(rows, "Error categories per dimension (labelled wrong or partial rows)", width=width)
    sources = ", ".join(f"{n} {source}" for source, n in sorted(run.error_sources.items()))
    return chart + (
        f'<p class="hint">Primary category of each wrong or partially correct row; labels: '
        f"{esc(sources)} (rule = automatic pre-label, consensus = human annotators).</p>"
        if sources
        else ""
    )


def diagnosis_section(runs: list[RunData]) -> Section | None:
    return panel_section(
        "diagnosis", "诊断与建议", "Diagnosis and recommended interventions", runs, findings_panel
    )


def findings_panel(run: RunData, width: int) -> str | None:
    if not run.diagnosis:
        return None
    return '<div class="findings">' + "".join(finding_card(f) for f in run.diagnosis) + "</div>"


def finding_card(finding: object) -> str:
    """Any finding the diagnosis gives (text, dict or model): a title, then its other fields."""
    if hasattr(finding, "model_dump"):
        finding = finding.model_dump()
    if not isinstance(finding, dict):
        return f'<div class="finding"><p>{esc(finding)}</p></div>'
    title_key = next((k for k in TITLE_KEYS if finding.get(k)), None)
    parts = [f"<h4>{esc(finding[title_key])}</h4>"] if title_key else []
    items = []
    for key, value in finding.items():
        if key == title_key or value in (None, "", [], {}):
            continue
        if key in ("dimension", "scope") and value in DIMENSION_LABELS_ZH:
            value = dimension_title(value)
        if isinstance(value, (list, tuple)):
            shown = "<ul>" + "".join(f"<li>{esc(list_item(v))}</li>" for v in value) + "</ul>"
        else:
            shown = esc(short_json(value))
        cls = ' class="act"' if key in ACTION_KEYS else ""
        items.append(f"<dt>{esc(key.replace('_', ' '))}</dt><dd{cls}>{shown}</dd>")
    parts.append(f"<dl>{''.join(items)}</dl>")
    return f'<div class="finding">{"".join(parts)}</div>'


def list_item(value: object) -> str:
    """An entry of a finding's list: a named entry (an intervention) by its name."""
    if isinstance(value, dict) and value.get("name"):
        return str(value["name"])
    return short_json(value)


def short_json(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
