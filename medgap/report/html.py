"""The report builder: runs gathered by `collect` -> one self-contained HTML page.

The page carries its own CSS, its JS (the rows table) and inline SVG charts; nothing is fetched
when it opens. Text from datasets and models is escaped here (`esc`) or travels as JSON that the
script shows with textContent only; a Content-Security-Policy with the hashes of the page's own
script and style stops anything else from running even if some text slipped through.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from medgap import __version__
from medgap.analysis import taxonomy
from medgap.cli.tables import COLUMNS, Column, note_text
from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS
from medgap.redact import redact, redact_value
from medgap.report.charts import (
    WIDTH,
    Bar,
    Diff,
    Label,
    Segment,
    Series,
    StackRow,
    bar_chart,
    diff_chart,
    esc,
    pct,
    stacked_chart,
)
from medgap.report.collect import OPEN_METRICS, Comparison, RunData

DIMENSION_LABELS_EN = {
    "knowledge_qa": "Knowledge QA",
    "language_understanding": "Language understanding",
    "language_generation": "Language generation",
    "complex_reasoning": "Complex reasoning",
    "safety_ethics": "Safety & ethics",
}

# metric key -> (Chinese, English); the order is the order of headline cards and chart series
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "accuracy": ("准确率", "Accuracy"),
    "strict_accuracy": ("严格准确率", "Strict accuracy"),
    "voted_accuracy": ("投票准确率", "Voted accuracy"),
    "robustness": ("稳健性", "Robustness"),
    "macro_recall": ("要点召回率", "Macro recall"),
    "rouge_l": ("ROUGE-L", "ROUGE-L"),
    "fill_accuracy": ("填空准确率", "Fill-in accuracy"),
    "multi_micro_f1": ("多选 micro-F1", "Multi-answer micro-F1"),
    "micro_f1": ("抽取 micro-F1", "Extraction micro-F1"),
    "macro_f1": ("分类 macro-F1", "Classification macro-F1"),
    "classification_accuracy": ("分类准确率", "Classification accuracy"),
    "format_error_rate": ("格式错误率", "Format errors"),
    "record_recall": ("病历要点召回率", "Record recall"),
    "section_coverage": ("章节覆盖率", "Section coverage"),
    "record_rouge_l": ("病历 ROUGE-L", "Record ROUGE-L"),
    "unanswered": ("未作答率", "Unanswered"),
}
HEADLINE_METRICS = (
    "accuracy",
    "strict_accuracy",
    "robustness",
    "macro_recall",
    "rouge_l",
    "fill_accuracy",
    "micro_f1",
    "record_recall",
)
ROBUSTNESS_SERIES = ("accuracy", "voted_accuracy", "strict_accuracy", "robustness")
# what ranks a run, and the score a leaderboard cell shows for a dimension
PRIMARY_METRICS = ("accuracy", "macro_recall", "fill_accuracy", "micro_f1", "record_recall", "rouge_l")
STATUS_LABELS = {
    "correct": ("正确", "correct"),
    "partial": ("部分正确", "partial"),
    "wrong": ("错误", "wrong"),
    "unanswered": ("未作答", "unanswered"),
    "error": ("调用失败", "error"),
    "ungraded": ("未评分", "ungraded"),
}
PANEL_WIDTH = 560  # charts in side-by-side panels: a narrower canvas keeps the text legible


@dataclass
class Section:
    id: str
    zh: str
    en: str
    body: str


# small formatting helpers ------------------------------------------------------------------------
def heading(zh: str, en: str) -> str:
    return f'{esc(zh)} <span class="en">{esc(en)}</span>'


def dimension_label(key: str) -> Label:
    return Label(DIMENSION_LABELS_ZH.get(key, key), DIMENSION_LABELS_EN.get(key, ""))


def metric_label(key: str) -> str:
    zh, en = METRIC_NAMES.get(key, (key, ""))
    return zh if zh == en or not en else f"{zh} · {en}"


def ci_keys(key: str) -> tuple[str, str]:
    return ("ci_low", "ci_high") if key == "accuracy" else (f"{key}_ci_low", f"{key}_ci_high")


def bar_of(group: dict | None, key: str | None) -> Bar:
    if not group or key is None or group.get(key) is None:
        return Bar(None)
    low, high = ci_keys(key)
    n = group.get(f"{key}_n", group.get("n") if key == "accuracy" else None)
    return Bar(group[key], group.get(low), group.get(high), f"n={n}" if n is not None else "")


def value_with_ci(group: dict, key: str) -> str:
    value = group.get(key)
    if value is None:
        return "–"
    low, high = (group.get(k) for k in ci_keys(key))
    ci = f' <span class="ci">[{pct(low)}, {pct(high)}]</span>' if low is not None and high is not None else ""
    return f"{pct(value)}{ci}"


def table_cell(group: dict, column: Column) -> str:
    value = group.get(column.key)
    if column.with_ci:
        return value_with_ci(group, column.key)
    if value is None:
        return "–"
    return pct(value) if column.percent and isinstance(value, float) else esc(value)


def primary_metric(group: dict) -> str | None:
    return next((key for key in PRIMARY_METRICS if group.get(key) is not None), None)


def panels(runs: list[RunData], draw: Callable[[RunData, int], str | None]) -> str:
    """One panel per run, side by side when there are several (charts drawn narrower to stay legible);
    runs with nothing to draw are left out, and nothing at all gives ""."""
    width = WIDTH if len(runs) == 1 else PANEL_WIDTH
    drawn = [(run, body) for run in runs if (body := draw(run, width))]
    if not drawn:
        return ""
    if len(runs) == 1:
        return drawn[0][1]
    return (
        '<div class="panels">'
        + "".join(f'<div class="panel"><h3>{esc(run.name)}</h3>{body}</div>' for run, body in drawn)
        + "</div>"
    )


def stacked(runs: list[RunData], draw: Callable[[RunData], str]) -> str:
    """One block per run, full width, under the run's name when there are several (wide tables)."""
    if len(runs) == 1:
        return draw(runs[0])
    return "".join(f'<div class="run-block"><h3>{esc(run.name)}</h3>{draw(run)}</div>' for run in runs)


# sections ----------------------------------------------------------------------------------------
def headline_section(run: RunData) -> Section:
    overall = run.summary["overall"]
    cards = [headline_card(key, overall) for key in HEADLINE_METRICS if overall.get(key) is not None]
    cards.append(
        count_card(
            "题目", "Items", overall.get("items"), f"{overall.get('rows', 0)} rows (item × option order)"
        )
    )
    if overall.get("unanswered") is not None:
        cards.append(
            count_card(
                "未作答",
                "Unanswered",
                pct(overall["unanswered"]),
                f"{overall.get('unanswered_n', 0)} of {overall.get('n', 0)} graded rows",
            )
        )
    if overall.get("logprob_rows"):
        cards.append(
            count_card(
                "险胜", "Close calls",
                overall["close_calls"],
                f"of {overall['logprob_rows']} rows decided by log-probabilities had the chosen option "
                f"less than {overall['close_call_nats']:g} nats above the runner-up",
                warn=bool(overall["close_calls"]),
            )
        )
    errors = overall.get("errors") or 0
    cards.append(
        count_card(
            "调用失败", "Failed calls", errors, "not scored; resume the run to retry them", warn=bool(errors)
        )
    )
    usage = run.summary.get("usage") or {}
    if usage.get("rows_with_tokens"):
        latency = (f"; latency p50 {usage['latency_median_s']:.2g} s, p95 {usage['latency_p95_s']:.3g} s"
                   if usage.get("latency_median_s") is not None else "")
        total = usage["prompt_tokens"] + usage["completion_tokens"]
        cards.append(
            count_card("用量", "Tokens", f"{total:,}", f"{usage['prompt_tokens']:,} prompt + "
                       f"{usage['completion_tokens']:,} completion ({usage['rows_with_tokens']:,} rows){latency}")
        )
    return Section("overview", "总览", "Overview", f'<div class="cards">{"".join(cards)}</div>')


def headline_card(key: str, group: dict) -> str:
    zh, en = METRIC_NAMES[key]
    low, high = (group.get(k) for k in ci_keys(key))
    ci = f"95% CI {pct(low)} – {pct(high)}" if low is not None and high is not None else "no interval"
    n = group.get(f"{key}_n", group.get("n") if key == "accuracy" else None)
    sub = f"n = {n}" if n is not None else ""
    return (
        f'<div class="card"><div class="card-label">{heading(zh, en)}</div>'
        f'<div class="card-value">{pct(group[key])}</div><div class="card-ci">{esc(ci)}</div>'
        f'<div class="card-sub">{esc(sub)}</div></div>'
    )


def count_card(zh: str, en: str, value: object, sub: str, warn: bool = False) -> str:
    shown = "–" if value is None else value
    return (
        f'<div class="card{" warn" if warn else ""}"><div class="card-label">{heading(zh, en)}</div>'
        f'<div class="card-value">{esc(shown)}</div><div class="card-sub">{esc(sub)}</div></div>'
    )


def leaderboard_section(runs: list[RunData]) -> Section:
    dims = [d for d in DIMENSIONS if any(d in r.summary["dimensions"] for r in runs)]
    extra = [
        k
        for k in ("robustness", "macro_recall", "rouge_l")
        if any(r.summary["overall"].get(k) is not None for r in runs)
    ]

    def rank_key(run: RunData) -> float:
        key = primary_metric(run.summary["overall"])
        return -(run.summary["overall"][key]) if key else 1.0

    head = ["#", "模型 Model", "运行 Run", "总分 Overall [95% CI]"]
    head += [f"{DIMENSION_LABELS_ZH[d]} {DIMENSION_LABELS_EN[d]}" for d in dims]
    head += [metric_label(k) for k in extra] + ["题目 Items", "失败 Errors"]
    body = []
    for rank, run in enumerate(sorted(runs, key=rank_key), start=1):
        overall = run.summary["overall"]
        key = primary_metric(overall)
        cells = [
            str(rank),
            esc(run.config.model),
            f"<code>{esc(run.run_id)}</code>",
            (value_with_ci(overall, key) + metric_note(key)) if key else "–",
        ]
        for d in dims:
            group = run.summary["dimensions"].get(d) or {}
            k = primary_metric(group)
            cells.append((pct(group[k]) + metric_note(k)) if k else "–")
        cells += [pct(overall.get(k)) for k in extra]
        cells += [esc(overall.get("items", "–")), esc(overall.get("errors") or 0)]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = (
        '<div class="table-wrap"><table class="data leaderboard"><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )
    note = (
        '<p class="hint">Ranked by overall accuracy on choice items (for runs without them: macro recall, '
        "fill-in accuracy, extraction micro-F1, record recall, ROUGE-L). A dimension cell names its metric "
        "when it is not accuracy.</p>"
    )
    return Section("leaderboard", "排行榜", "Leaderboard", table + note)


def metric_note(key: str | None) -> str:
    if key is None or key == "accuracy":
        return ""
    return f' <span class="metric">{esc(METRIC_NAMES.get(key, (key, key))[-1])}</span>'


def dimension_section(runs: list[RunData]) -> Section | None:
    """Each dimension's main score (accuracy where it has choice items, else its task family's
    score, named under the label), one bar per run."""
    dims = [d for d in DIMENSIONS if any(primary_metric(r.summary["dimensions"].get(d) or {}) for r in runs)]
    if not dims:
        return None
    groups = [
        [run.summary["overall"]] + [run.summary["dimensions"].get(d) or {} for d in dims] for run in runs
    ]
    keys = [
        next((primary_metric(g[i]) for g in groups if primary_metric(g[i])), None)
        for i in range(len(dims) + 1)
    ]
    labels = [Label("总体", "Overall")] + [dimension_label(d) for d in dims]
    categories = [
        label if key is None or key == "accuracy" else Label(label.main, f"{label.sub} · {METRIC_NAMES[key][1]}")
        for label, key in zip(labels, keys, strict=True)
    ]
    series = [
        Series(run.name, [bar_of(g, k) for g, k in zip(run_groups, keys, strict=True)])
        for run, run_groups in zip(runs, groups, strict=True)
    ]
    chart = bar_chart(categories, series, "Score by dimension (accuracy, else the named metric) with 95% CIs")
    tables = stacked(
        runs,
        lambda run: (
            group_table(run.summary["dimensions"], run.summary["overall"], "dimension") + task_details(run)
        ),
    )
    return Section("dimensions", "各维度得分", "Scores by dimension", chart + tables)


def group_table(groups: dict[str, dict], overall: dict | None, kind: str) -> str:
    rows = dict(groups)
    if overall is not None:
        rows["overall"] = overall
    columns = [c for c in COLUMNS if any(g.get(c.key) is not None for g in rows.values())]
    columns += [
        Column(k, METRIC_NAMES[k][1], with_ci=True)
        for k in OPEN_METRICS
        if any(g.get(k) is not None for g in rows.values()) and all(c.key != k for c in columns)
    ]
    head = f"<th>{'维度 Dimension' if kind == 'dimension' else '任务 Task'}</th>" + "".join(
        f"<th>{esc(column_title(c))}</th>" for c in columns
    )
    body = []
    for name, group in rows.items():
        if name == "overall":
            label = "总体 Overall"
        elif name in DIMENSION_LABELS_ZH:
            label = f"{DIMENSION_LABELS_ZH[name]} {DIMENSION_LABELS_EN[name]}"
        else:
            dim = group.get("dimension")
            label = name + (f" · {DIMENSION_LABELS_ZH.get(dim, dim)}" if dim else "")
        cls = ' class="total"' if name == "overall" else ""
        body.append(
            f'<tr{cls}><th scope="row">{esc(label)}</th>'
            + "".join(f"<td>{table_cell(group, c)}</td>" for c in columns)
            + "</tr>"
        )
    return (
        f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def column_title(column: Column) -> str:
    zh = METRIC_NAMES.get(column.key, ("",))[0]
    title = column.label.replace(" [95% CI]", "") + (" [95% CI]" if column.with_ci else "")
    return f"{zh} {title}" if zh and zh != title.split(" ")[0] else title


def task_details(run: RunData) -> str:
    tasks = run.summary.get("tasks") or {}
    if not tasks:
        return ""
    return (
        f"<details><summary>{len(tasks)} tasks · 各任务得分</summary>"
        f"{group_table(tasks, None, 'task')}</details>"
    )


def robustness_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
        dims = [d for d, g in run.summary["dimensions"].items() if g.get("robustness") is not None]
        if not dims:
            return None
        groups = [run.summary["overall"]] + [run.summary["dimensions"][d] for d in dims]
        keys = [k for k in ROBUSTNESS_SERIES if any(g.get(k) is not None for g in groups)]
        series = [Series(metric_label(k), [bar_of(g, k) for g in groups]) for k in keys]
        categories = [Label("总体", "Overall")] + [dimension_label(d) for d in dims]
        return bar_chart(
            categories,
            series,
            "Accuracy and robustness under shuffled option orders, by dimension",
            width=width,
        )

    body = panels(runs, draw)
    if not body:
        return None
    note = (
        '<p class="hint">Robustness: share of items whose chosen option content is the same under every '
        "order. Strict accuracy: share correct under every order. Voted accuracy: the plurality answer "
        "over orders.</p>"
    )
    left_out = [
        f"<p class=\"hint\">{esc(run.name)}: {esc(text).replace(chr(10), '; ')}</p>"
        for run in runs
        if (text := note_text(run.summary["overall"], Column("robustness", "")))
    ]
    return Section("robustness", "稳健性与准确率", "Robustness vs accuracy", body + note + "".join(left_out))


def positional_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
        bias = run.summary["overall"].get("positional_bias")
        if not bias or not bias.get("positions"):
            return None
        positions = bias["positions"]
        categories = [
            Label(f"第{p.get('position', i + 1)}位", f"shown as {p.get('letter', '')}".strip())
            for i, p in enumerate(positions)
        ]
        series = [
            Series(
                "模型选择 · chosen",
                [Bar(p.get("chosen_share"), note=f"{p.get('chosen')} rows") for p in positions],
                "#2563eb",
            ),
            Series(
                "正确答案所在 · gold",
                [Bar(p.get("gold_share"), note=f"{p.get('gold')} rows") for p in positions],
                "#9ca3af",
            ),
        ]
        peak = max([p.get(k) or 0 for p in positions for k in ("chosen_share", "gold_share")] + [0.05])
        chart = bar_chart(
            categories,
            series,
            "Share of answers by option position: chosen vs gold",
            max_value=min(1.0, (int(peak * 10) + 1) / 10),
            width=width,
        )
        return chart + position_verdict(bias)

    body = panels(runs, draw)
    if not body:
        return None
    return Section("position", "位置偏好", "Positional bias", body)


def position_verdict(bias: dict) -> str:
    p = bias.get("p_value")
    parts = [f"n = {bias.get('n', '–')} single-answer rows"]
    if p is not None:
        chi2 = bias.get("chi2")
        verdict = (
            "chosen positions differ from gold positions"
            if p < 0.05
            else "no evidence of a position preference"
        )
        parts.append(
            f"χ² = {chi2:.2f}, df = {bias.get('dof')}, p = {p:.3g}: {verdict}"
            if chi2 is not None
            else f"p = {p:.3g}: {verdict}"
        )
    if bias.get("follows_position") is not None:
        parts.append(
            f"answer stays on one position while its content moves: {pct(bias['follows_position'])} of items"
        )
    return f'<p class="hint">{esc(" · ".join(parts))}</p>'


@dataclass(frozen=True)
class MetricFamily:
    """Metrics of one kind of task, charted together per task."""

    title: str
    keys: tuple[str, ...]
    explanation: str


TASK_FAMILIES = (
    MetricFamily(
        "Open-ended answers",
        ("macro_recall", "rouge_l"),
        "Macro recall: share of the reference key points a response covers, averaged over items. "
        "ROUGE-L: longest-common-subsequence F-score against the reference, on single characters "
        "(as MedBench and OpenCompass compute it).",
    ),
    MetricFamily(
        "Fill-in answers", ("fill_accuracy",), "Fill-in accuracy: share of blanks filled as expected."
    ),
    MetricFamily(
        "Information extraction",
        ("micro_f1", "macro_f1", "classification_accuracy"),
        "Micro-F1 over extracted items pooled across rows; macro-F1 and accuracy over classification items.",
    ),
    MetricFamily(
        "Medical records",
        ("record_recall", "section_coverage", "record_rouge_l"),
        "Record recall: key points covered within the right sections; section coverage: required sections "
        "present; ROUGE-L against the reference record.",
    ),
)


def family_chart(run: RunData, family: MetricFamily, width: int) -> str | None:
    tasks = {
        t: g
        for t, g in (run.summary.get("tasks") or {}).items()
        if any(g.get(k) is not None for k in family.keys)
    }
    if not tasks:
        return None
    groups = [run.summary["overall"]] + list(tasks.values())
    keys = [k for k in family.keys if any(g.get(k) is not None for g in groups)]
    series = [Series(metric_label(k), [bar_of(g, k) for g in groups]) for k in keys]
    categories = [Label("总体", "Overall")] + [
        Label(t, DIMENSION_LABELS_EN.get(g.get("dimension"), "")) for t, g in tasks.items()
    ]
    title = f"{family.title}: scores by task with 95% confidence intervals"
    chart = bar_chart(categories, series, title, width=width, show_legend=True)
    return f'<h4>{esc(family.title)}</h4>{chart}<p class="hint">{esc(family.explanation)}</p>'


def open_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
        charts = [family_chart(run, family, width) for family in TASK_FAMILIES]
        return "".join(c for c in charts if c) or None

    body = panels(runs, draw)
    if not body:
        return None
    return Section("open", "开放题与生成任务", "Open-ended and generation tasks", body)


def category_name(key: str) -> str:
    """A taxonomy key as the page names it (Chinese and English name); an unknown key as it is."""
    try:
        category = taxonomy.category(key)
    except ValueError:
        return key
    return f"{category.name_zh} {category.name}"


def errors_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
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
        chart = stacked_chart(
            rows, "Error categories per dimension (labelled wrong or partial rows)", width=width
        )
        sources = ", ".join(f"{n} {source}" for source, n in sorted(run.error_sources.items()))
        return chart + (
            f'<p class="hint">Primary category of each wrong or partially correct row; labels: '
            f"{esc(sources)} (rule = automatic pre-label, consensus = human annotators).</p>"
            if sources
            else ""
        )

    body = panels(runs, draw)
    if not body:
        return None
    return Section("errors", "错误类型分布", "Error categories by dimension", body)


def diagnosis_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
        if not run.diagnosis:
            return None
        return '<div class="findings">' + "".join(finding_card(f) for f in run.diagnosis) + "</div>"

    body = panels(runs, draw)
    if not body:
        return None
    return Section("diagnosis", "诊断与建议", "Diagnosis and recommended interventions", body)


TITLE_KEYS = ("title", "signature", "finding", "summary", "name")
LIST_KEYS = ("interventions", "recommended", "recommendations", "evidence")


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
            value = f"{DIMENSION_LABELS_ZH[value]} {DIMENSION_LABELS_EN[value]}"
        if isinstance(value, (list, tuple)):
            shown = "<ul>" + "".join(f"<li>{esc(list_item(v))}</li>" for v in value) + "</ul>"
        else:
            shown = esc(short_json(value))
        cls = ' class="act"' if key in LIST_KEYS[:3] else ""
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
    head = [
        "比较项 Metric",
        f"A: {a}",
        f"B: {b}",
        "差值 B−A [95% CI]",
        "p",
        "检验 Test",
        "仅A对 A only",
        "仅B对 B only",
    ]
    rows = []
    for d in comparison.diffs:
        ci = (
            f' <span class="ci">[{d["ci_low"] * 100:+.1f}, {d["ci_high"] * 100:+.1f}]</span>'
            if d.get("ci_low") is not None and d.get("ci_high") is not None
            else ""
        )
        zh, en = diff_label(d["label"])
        cells = [
            f'{esc(zh)}<div class="sub">{esc(en)}</div>',
            pct(number(d.get("a"))),
            pct(number(d.get("b"))),
            signed_points(d.get("diff")) + ci,
            p_text(d.get("p_value")),
            esc(d.get("test") or "–"),
            esc(count_text(d.get("a_only"))),
            esc(count_text(d.get("b_only"))),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = (
        '<div class="table-wrap"><table class="data"><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    kind = "Experiment" if comparison.is_experiment else "Comparison"
    on_items = f"the {comparison.items} items both answered" if comparison.items else "the same items"
    note = (
        f'<p class="hint">{esc(kind)}: B = {esc(b)} against A = {esc(a)} on {esc(on_items)}. '
        "Differences are in percentage points; green/red marks p &lt; 0.05. "
        "A only / B only: units where only that run was right (graded metrics: scored higher).</p>"
    )
    return Section("compare", "配对比较", "Paired comparison", chart + table + note)


def number(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def diff_label(parts: list[str]) -> tuple[str, str]:
    """A comparison entry's [group, metric] -> (Chinese, English) label,
    e.g. ("医学知识问答 · 准确率", "Knowledge QA · Accuracy")."""
    zh = [
        DIMENSION_LABELS_ZH.get(p) or ("总体" if p == "overall" else METRIC_NAMES.get(p, (p,))[0])
        for p in parts
    ]
    en = [
        DIMENSION_LABELS_EN.get(p) or ("Overall" if p == "overall" else METRIC_NAMES.get(p, ("", p))[1])
        for p in parts
    ]
    return " · ".join(zh), " · ".join(en)


def count_text(value: object) -> str:
    return "–" if value is None else str(value)


def signed_points(value: object) -> str:
    points = number(value)
    return "–" if points is None else f"{points * 100:+.1f} pp"


def p_text(value: object) -> str:
    return "–" if number(value) is None else f"{value:.3g}"


def rows_section(runs: list[RunData]) -> Section:
    shown = sum(len(r.rows) for r in runs)
    total = sum(r.rows_total for r in runs)
    capped = (
        (
            f'<p class="note">The table holds the first {shown} of {total} rows (raise --max-rows to '
            "include more).</p>"
        )
        if shown < total
        else ""
    )
    run_filter = "" if len(runs) == 1 else filter_select("run", "运行", "Run")
    filters = (
        run_filter
        + filter_select("dimension", "维度", "Dimension")
        + filter_select("task", "任务", "Task")
        + filter_select("status", "结果", "Correctness")
        + filter_select("category", "错误类型", "Error category")
        + '<label class="filter search"><span>搜索 Search</span>'
        '<input id="f-search" type="search" placeholder="question, response, id…"></label>'
    )
    body = (
        f'{capped}<form class="filters" id="filters">{filters}</form>'
        '<div class="rows-meta"><span id="rows-count" aria-live="polite"></span>'
        '<span class="pager"><button type="button" id="prev">← 上一页 Prev</button>'
        '<span id="page"></span><button type="button" id="next">下一页 Next →</button></span></div>'
        '<div class="table-wrap"><table class="data rows" id="rows-table"><thead><tr>'
        "<th>题目 Item</th><th>维度 / 任务</th><th>问题 Question</th><th>标准答案 Gold</th>"
        "<th>模型回答 Response</th><th>抽取 Extracted</th><th>得分 Score</th><th>结果 Result</th>"
        '<th>错误类型 Category</th></tr></thead><tbody id="rows-body"></tbody></table></div>'
        '<p class="hint">Click a row (or press Enter on it) to show the full text, options and key '
        "points.</p>"
    )
    return Section("rows", "逐题明细", "Rows", body)


def filter_select(name: str, zh: str, en: str) -> str:
    return (
        f'<label class="filter" id="filter-{name}"><span>{esc(zh)} {esc(en)}</span>'
        f'<select id="f-{name}" name="{name}"><option value="">全部 All</option></select></label>'
    )


def config_section(runs: list[RunData]) -> Section:
    return Section("config", "运行配置", "Run configuration", "".join(config_block(r) for r in runs))


def config_block(run: RunData) -> str:
    c = run.config
    fields = [
        ("Run ID", c.run_id),
        ("Model", c.model),
        ("Suite", c.suite),
        ("Seed", c.seed),
        ("Option orders (permutations)", c.permutations),
        ("Limit (items in all)", c.limit if c.limit is not None else "–"),
        ("Limit per task", c.limit_per_task if c.limit_per_task is not None else "–"),
        ("Interventions", ", ".join(c.interventions) or "–"),
        ("Answer matching", c.match),
        ("Created", c.created or "–"),
        ("Versions", ", ".join(f"{k} {v}" for k, v in c.versions.items()) or "–"),
        (
            "Generation",
            json.dumps(redact_value(c.generation), ensure_ascii=False, sort_keys=True) if c.generation else "–",
        ),
    ]
    if c.answer_settings is not None:
        fields += [(f"Answer setting: {k.replace('_', ' ')}",
                    v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True))
                   for k, v in c.answer_settings.model_dump().items()]
    fields += [
        (
            k.replace("_", " ").capitalize(),
            json.dumps(redact_value(v), ensure_ascii=False, sort_keys=True) if not isinstance(v, str) else redact(v),
        )
        for k, v in c.extra.items()
    ]
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in fields)
    prompts = "".join(f"<h4>{esc(kind)}</h4><pre>{esc(text)}</pre>" for kind, text in c.prompts.items())
    prompts_block = (
        f"<details><summary>Prompt templates ({len(c.prompts)})</summary>{prompts}</details>"
        if prompts
        else ""
    )
    return (
        f'<div class="config"><h3>{esc(run.name)}</h3><table class="kv">{rows}</table>'
        f'<h4>Reproduce</h4><pre class="command">{esc(reproduce_command(run))}</pre>{prompts_block}</div>'
    )


def reproduce_command(run: RunData) -> str:
    c = run.config
    args = [
        "medgap",
        "run",
        "--model",
        c.model,
        "--suite",
        c.suite,
        "--seed",
        str(c.seed),
        "--permutations",
        str(c.permutations),
    ]
    if c.limit_per_task is not None:
        args += ["--limit-per-task", str(c.limit_per_task)]
    if c.limit is not None:
        args += ["--limit", str(c.limit)]
    if c.interventions:
        args += ["--intervention", ",".join(c.interventions)]
    gen = c.generation
    for flag, key in (
        ("--temperature", "temperature"),
        ("--max-tokens", "max_tokens"),
        ("--choice-mode", "choice_mode"),
    ):
        if gen.get(key) is not None:
            args += [flag, str(gen[key])]
    return " ".join(shlex.quote(a) for a in args)


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


# the page ----------------------------------------------------------------------------------------
def script_json(value: object) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survives, so '</script>' cannot close the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def table_data(runs: list[RunData]) -> dict:
    categories = sorted({r["category"] for run in runs for r in run.rows if r["category"]})
    return {
        "runs": [{"id": r.run_id, "name": r.name} for r in runs],
        "dimensions": {d: [DIMENSION_LABELS_ZH[d], DIMENSION_LABELS_EN[d]] for d in DIMENSIONS},
        "statuses": STATUS_LABELS,
        "categories": {c: category_name(c) for c in categories},
        "rows": [row for run in runs for row in run.rows],
    }


def asset(name: str) -> str:
    return resources.files("medgap.report").joinpath(name).read_text(encoding="utf-8")


def csp_hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode() + "'"


def build_sections(
    runs: list[RunData], comparison: Comparison | None, notes: dict[str, str]
) -> list[Section]:
    first = [headline_section(runs[0])] if len(runs) == 1 else [leaderboard_section(runs)]
    optional = [
        dimension_section(runs),
        robustness_section(runs),
        positional_section(runs),
        open_section(runs),
        errors_section(runs),
        diagnosis_section(runs),
    ]
    if comparison is not None:
        optional.append(comparison_section(comparison, {r.run_id: r.name for r in runs}))
    tail = [rows_section(runs), notes_section(runs, notes), config_section(runs)]
    return [s for s in first + optional + tail if s is not None]


def build_report(
    runs: list[RunData],
    comparison: Comparison | None = None,
    notes: dict[str, str] | None = None,
    generated: datetime | None = None,
) -> str:
    """The whole page as one string."""
    if not runs:
        raise ValueError("a report needs at least one run")
    generated = generated or datetime.now(UTC)
    sections = build_sections(runs, comparison, notes or {})
    if len(runs) == 1:
        c = runs[0].config
        subtitle = f"{c.model} · {c.suite} · run {c.run_id}" + (f" · {c.created}" if c.created else "")
    else:
        subtitle = f"{len(runs)} runs: " + ", ".join(r.name for r in runs)
    nav = "".join(f'<a href="#{s.id}">{esc(s.zh)}<span class="en"> {esc(s.en)}</span></a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{heading(s.zh, s.en)}</h2>{s.body}</section>' for s in sections)
    style, script = asset("report.css"), asset("report.js")
    csp = (
        f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(style)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    parts = {
        "csp": csp,  # our own constant and base64 hashes: nothing to escape
        "title": esc(f"MedGap report · {subtitle}"),
        "style": style,
        "subtitle": esc(subtitle),
        "nav": nav,
        "body": body,
        "footer": esc(
            f"medgap {__version__} · generated {generated.isoformat(timespec='seconds')} · "
            "self-contained: opens offline, no external resources"
        ),
        "data": script_json(table_data(runs)),
        "script": script,
    }
    return fill_template("template.html", parts)


def fill_template(name: str, parts: dict[str, str]) -> str:
    """Put each part in place of its <!--medgap:NAME--> marker, in one pass: inserted text is never
    rescanned."""
    return re.sub(r"<!--medgap:(\w+)-->", lambda m: parts[m.group(1)], asset(name))


def write_report(html: str, output: str | Path) -> Path:
    """Write the page, creating missing parent folders."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
