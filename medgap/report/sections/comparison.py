"""The paired comparison of two runs: a chart and a table of the differences, B minus A."""

from __future__ import annotations

from medgap.records import DIMENSION_LABELS_ZH
from medgap.report.charts import Diff, Label, diff_chart, esc, pct
from medgap.report.collect import Comparison
from medgap.report.format import DIMENSION_LABELS_EN, count_text, data_table, number, p_text, signed_points
from medgap.report.metrics_shown import metric_names
from medgap.report.sections.layout import Section


def comparison_section(comparison: Comparison, names: dict[str, str]) -> Section:
    a, b = names.get(comparison.a, comparison.a), names.get(comparison.b, comparison.b)
    if not comparison.diffs:
        body = '<p class="note">The comparison found no metric the two runs share.</p>'
        return Section("compare", "配对比较", "Paired comparison", body)
    diffs = [
        Diff(Label(*diff_label(d["label"])), d["diff"], d.get("ci_low"), d.get("ci_high"), d.get("p_value"))
        for d in comparison.diffs
        if d.get("diff") is not None
    ]
    chart = diff_chart(diffs, f"Paired differences, B ({b}) minus A ({a}), with 95% confidence intervals")
    head = ["比较项 Metric", f"A: {a}", f"B: {b}", "差值 B−A [95% CI]", "p", "检验 Test"]
    head += ["仅A对 A only", "仅B对 B only"]
    table = data_table(head, [diff_cells(d) for d in comparison.diffs])
    kind = "Experiment" if comparison.is_experiment else "Comparison"
    on_items = f"the {comparison.items} items both answered" if comparison.items else "the same items"
    note = (
        f'<p class="hint">{esc(kind)}: B = {esc(b)} against A = {esc(a)} on {esc(on_items)}. '
        "Differences are in percentage points; green/red marks p &lt; 0.05. "
        "A only / B only: units where only that run was right (graded metrics: scored higher).</p>"
    )
    return Section("compare", "配对比较", "Paired comparison", chart + table + note)


def diff_cells(d: dict) -> list[str]:
    """One entry of the comparison as the table's cells: label, both values, the difference with its
    CI, the test and how many units only one run got right."""
    ci = (
        f' <span class="ci">[{d["ci_low"] * 100:+.1f}, {d["ci_high"] * 100:+.1f}]</span>'
        if d.get("ci_low") is not None and d.get("ci_high") is not None
        else ""
    )
    zh, en = diff_label(d["label"])
    return [
        f'{esc(zh)}<div class="sub">{esc(en)}</div>',
        pct(number(d.get("a"))),
        pct(number(d.get("b"))),
        signed_points(d.get("diff")) + ci,
        p_text(d.get("p_value")),
        esc(d.get("test") or "–"),
        esc(count_text(d.get("a_only"))),
        esc(count_text(d.get("b_only"))),
    ]


def diff_label(parts: list[str]) -> tuple[str, str]:
    """A comparison entry's [group, metric] -> (Chinese, English) label,
    e.g. ("医学知识问答 · 准确率", "Knowledge QA · Accuracy")."""
    zh = [DIMENSION_LABELS_ZH.get(p) or ("总体" if p == "overall" else metric_names(p)[0]) for p in parts]
    en = [DIMENSION_LABELS_EN.get(p) or ("Overall" if p == "overall" else metric_names(p)[1]) for p in parts]
    return " · ".join(zh), " · ".join(en)


