"""The sections that open the page: a single run's headline cards or several runs' leaderboard, and
the scores by dimension with each run's dimension and task tables."""

from __future__ import annotations

from medgap.analysis.metrics import GroupSummary, TaskSummary, Usage
from medgap.kinds import all_metrics, metric
from medgap.kinds.base import Estimate
from medgap.kinds.choice import CLOSE_CALL_NATS
from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS
from medgap.report.charts import Label, Series, bar_chart, esc, pct
from medgap.report.collect import RunData
from medgap.report.format import (
    bar_of,
    data_table,
    dimension_label,
    dimension_title,
    heading,
    metric_cell,
    value_with_ci,
)
from medgap.report.metrics_shown import (
    LEADERBOARD_METRICS,
    headline_metrics,
    metric_label,
    metric_names,
    metric_note,
    primary_metric,
)
from medgap.report.sections.layout import Section, stacked


def headline_section(run: RunData) -> Section:
    overall = run.summary.overall
    cards = [headline_card(key, estimate) for key in headline_metrics()
             if (estimate := overall.metrics.get(key)) is not None and estimate.value is not None]
    cards += count_cards(overall, run.summary.usage)
    return Section("overview", "总览", "Overview", f'<div class="cards">{"".join(cards)}</div>')


def count_cards(overall: GroupSummary, usage: Usage) -> list[str]:
    """The cards beside the scores: items, unanswered rows, close calls, failed calls, tokens used."""
    cards = [count_card("题目", "Items", overall.items, f"{overall.rows} rows (item × option order)")]
    unanswered = overall.metrics.get("unanswered")
    if unanswered is not None:
        cards.append(count_card("未作答", "Unanswered", pct(unanswered.value),
                                f"{unanswered.count or 0} of {unanswered.n} graded rows"))
    close = overall.metrics.get("close_calls")
    if close is not None and close.n:
        cards.append(count_card(
            "险胜", "Close calls", close.count,
            f"of {close.n} rows decided by log-probabilities had the chosen option "
            f"less than {CLOSE_CALL_NATS:g} nats above the runner-up",
            warn=bool(close.count),
        ))
    cards.append(count_card("调用失败", "Failed calls", overall.errors, "not scored; resume the run to retry them",
                            warn=bool(overall.errors)))
    if usage.rows_with_tokens:
        cards.append(usage_card(usage))
    return cards


def usage_card(usage: Usage) -> str:
    latency = (f"; latency p50 {usage.latency_median_s:.2g} s, p95 {usage.latency_p95_s:.3g} s"
               if usage.latency_median_s is not None and usage.latency_p95_s is not None else "")
    total = usage.prompt_tokens + usage.completion_tokens
    return count_card("用量", "Tokens", f"{total:,}", f"{usage.prompt_tokens:,} prompt + "
                      f"{usage.completion_tokens:,} completion ({usage.rows_with_tokens:,} rows){latency}")


def headline_card(key: str, estimate: Estimate) -> str:
    zh, en = metric_names(key)
    low, high = estimate.ci_low, estimate.ci_high
    ci = f"95% CI {pct(low)} – {pct(high)}" if low is not None and high is not None else "no interval"
    return (
        f'<div class="card"><div class="card-label">{heading(zh, en)}</div>'
        f'<div class="card-value">{pct(estimate.value)}</div><div class="card-ci">{esc(ci)}</div>'
        f'<div class="card-sub">{esc(f"n = {estimate.n}")}</div></div>'
    )


def count_card(zh: str, en: str, value: object, sub: str, warn: bool = False) -> str:
    shown = "–" if value is None else value
    return (
        f'<div class="card{" warn" if warn else ""}"><div class="card-label">{heading(zh, en)}</div>'
        f'<div class="card-value">{esc(shown)}</div><div class="card-sub">{esc(sub)}</div></div>'
    )


def leaderboard_section(runs: list[RunData]) -> Section:
    dims = [d for d in DIMENSIONS if any(d in r.summary.dimensions for r in runs)]
    extra = [k for k in LEADERBOARD_METRICS if any(r.summary.overall.value(k) is not None for r in runs)]
    head = ["#", "模型 Model", "运行 Run", "总分 Overall [95% CI]"]
    head += [dimension_title(d) for d in dims]
    head += [metric_label(k) for k in extra] + ["题目 Items", "失败 Errors"]
    ranked = sorted(runs, key=rank_key)
    rows = [leaderboard_cells(rank, run, dims, extra) for rank, run in enumerate(ranked, start=1)]
    table = data_table(head, rows, "data leaderboard")
    note = (
        '<p class="hint">Ranked by overall accuracy on choice items (for runs without them: macro recall, '
        "fill-in accuracy, extraction micro-F1, record recall, ROUGE-L). A dimension cell names its metric "
        "when it is not accuracy.</p>"
    )
    return Section("leaderboard", "排行榜", "Leaderboard", table + note)


def rank_key(run: RunData) -> float:
    """Best first by the run's primary metric; runs without one last."""
    key = primary_metric(run.summary.overall)
    return -(run.summary.overall.value(key) or 0.0) if key else 1.0


def leaderboard_cells(rank: int, run: RunData, dims: list[str], extra: list[str]) -> list[str]:
    overall = run.summary.overall
    key = primary_metric(overall)
    cells = [
        str(rank),
        esc(run.config.model),
        f"<code>{esc(run.run_id)}</code>",
        (value_with_ci(overall, key) + metric_note(key)) if key else "–",
    ]
    for d in dims:
        group = run.summary.dimensions.get(d)
        k = primary_metric(group)
        cells.append((pct(group.value(k)) + metric_note(k)) if group is not None and k else "–")
    cells += [pct(overall.value(k)) for k in extra]
    return cells + [esc(overall.items), esc(overall.errors)]


def dimension_section(runs: list[RunData]) -> Section | None:
    """Each dimension's main score (accuracy where it has choice items, else its task family's
    score, named under the label), one bar per run."""
    dims = [d for d in DIMENSIONS if any(primary_metric(r.summary.dimensions.get(d)) for r in runs)]
    if not dims:
        return None
    groups: list[list[GroupSummary | None]] = [
        [run.summary.overall, *(run.summary.dimensions.get(d) for d in dims)] for run in runs
    ]
    keys = [
        next((primary_metric(g[i]) for g in groups if primary_metric(g[i])), None)
        for i in range(len(dims) + 1)
    ]
    labels = [Label("总体", "Overall")] + [dimension_label(d) for d in dims]
    categories = [
        label if key is None or key == "accuracy" else Label(label.main, f"{label.sub} · {metric_names(key)[1]}")
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
            group_table(dict(run.summary.dimensions), run.summary.overall, "dimension") + task_details(run)
        ),
    )
    return Section("dimensions", "各维度得分", "Scores by dimension", chart + tables)


def group_table(groups: dict[str, GroupSummary], overall: GroupSummary | None, kind: str) -> str:
    rows = dict(groups)
    if overall is not None:
        rows["overall"] = overall
    keys = [m.name for m in all_metrics() if any(m.name in g.metrics for g in rows.values())]
    head = f"<th>{'维度 Dimension' if kind == 'dimension' else '任务 Task'}</th><th>题目 Items</th>" + "".join(
        f"<th>{esc(column_title(key))}</th>" for key in keys
    ) + "<th>失败 Errors</th>"
    body = []
    for name, group in rows.items():
        cls = ' class="total"' if name == "overall" else ""
        body.append(
            f'<tr{cls}><th scope="row">{esc(row_label(name, group))}</th><td>{group.items}</td>'
            + "".join(f"<td>{metric_cell(group, key)}</td>" for key in keys)
            + f"<td>{group.errors}</td></tr>"
        )
    return (
        f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def row_label(name: str, group: GroupSummary) -> str:
    if name == "overall":
        return "总体 Overall"
    if name in DIMENSION_LABELS_ZH:
        return dimension_title(name)
    dimension = group.dimension if isinstance(group, TaskSummary) else None
    return name + (f" · {DIMENSION_LABELS_ZH.get(dimension, dimension)}" if dimension else "")


def column_title(key: str) -> str:
    zh, en = metric_names(key)
    spec = metric(key)
    title = en + (" [95% CI]" if spec is None or spec.unit == "share" else "")
    return f"{zh} {title}" if zh != en else title


def task_details(run: RunData) -> str:
    tasks = run.summary.tasks
    if not tasks:
        return ""
    return (
        f"<details><summary>{len(tasks)} tasks · 各任务得分</summary>"
        f"{group_table(dict(tasks), None, 'task')}</details>"
    )
