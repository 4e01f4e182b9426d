"""Small formatting helpers of the report: bilingual headings and labels, numbers with their
confidence intervals, table cells, signed differences and p-values."""

from __future__ import annotations

from medgap.analysis import taxonomy
from medgap.analysis.metrics import GroupSummary
from medgap.kinds import metric
from medgap.records import DIMENSION_LABELS_ZH
from medgap.report.charts import Bar, Label, esc, pct

DIMENSION_LABELS_EN = {
    "knowledge_qa": "Knowledge QA",
    "language_understanding": "Language understanding",
    "language_generation": "Language generation",
    "complex_reasoning": "Complex reasoning",
    "safety_ethics": "Safety & ethics",
}


def heading(zh: str, en: str) -> str:
    return f'{esc(zh)} <span class="en">{esc(en)}</span>'


def dimension_label(key: str) -> Label:
    return Label(DIMENSION_LABELS_ZH.get(key, key), DIMENSION_LABELS_EN.get(key, ""))


def dimension_title(key: str) -> str:
    """A dimension's Chinese and English name in one line, e.g. "医学知识问答 Knowledge QA"."""
    return f"{DIMENSION_LABELS_ZH[key]} {DIMENSION_LABELS_EN[key]}"


def bar_of(group: GroupSummary | None, key: str | None) -> Bar:
    estimate = group.metrics.get(key) if group is not None and key is not None else None
    if estimate is None or estimate.value is None:
        return Bar(None)
    return Bar(estimate.value, estimate.ci_low, estimate.ci_high, f"n={estimate.n}")


def value_with_ci(group: GroupSummary | None, key: str) -> str:
    estimate = group.metrics.get(key) if group is not None else None
    if estimate is None or estimate.value is None:
        return "–"
    low, high = estimate.ci_low, estimate.ci_high
    ci = f' <span class="ci">[{pct(low)}, {pct(high)}]</span>' if low is not None and high is not None else ""
    return f"{pct(estimate.value)}{ci}"


def metric_cell(group: GroupSummary, key: str) -> str:
    """A metric as a table cell: a share with its interval, a count of the rows it counts, or a number."""
    spec = metric(key)
    estimate = group.metrics.get(key)
    if estimate is None or estimate.value is None:
        return "–"
    if spec is not None and spec.unit == "count":
        return esc(f"{estimate.value:g} of {estimate.n}")
    if spec is not None and spec.unit == "number":
        return esc(f"{estimate.value:.3f}")
    return value_with_ci(group, key)


def data_table(head: list[str], rows: list[list[str]], cls: str = "data") -> str:
    """A scrolling table: column titles (plain text, escaped here) over rows of cells already in HTML."""
    titles = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cells in rows)
    return (
        f'<div class="table-wrap"><table class="{cls}"><thead><tr>{titles}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def category_name(key: str) -> str:
    """A taxonomy key as the page names it (Chinese and English name); an unknown key as it is."""
    try:
        category = taxonomy.category(key)
    except ValueError:
        return key
    return f"{category.name_zh} {category.name}"


def number(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def count_text(value: object) -> str:
    return "–" if value is None else str(value)


def signed_points(value: object) -> str:
    points = number(value)
    return "–" if points is None else f"{points * 100:+.1f} pp"


def p_text(value: object) -> str:
    return "–" if number(value) is None else f"{value:.3g}"


