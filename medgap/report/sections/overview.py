"""The sections that open the page: a single run's headline cards or several runs' leaderboard, and
the scores by dimension with each run's dimension and task tables."""

from __future__ import annotations

from medgap.cli.tables import COLUMNS, Column
from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS
from medgap.report.charts import Label, Series, bar_chart, esc, pct
from medgap.report.collect import OPEN_METRICS, RunData
from medgap.report.format import (
    bar_of,
    data_table,
    dimension_label,
    dimension_title,
    heading,
    table_cell,
    value_with_ci,
)
from medgap.report.metrics_shown import (
    HEADLINE_METRICS,
    LEADERBOARD_METRICS,
    METRIC_NAMES,
    ci_keys,
    metric_label,
    metric_note,
    primary_metric,
)
from medgap.report.sections.layout import Section, stacked


def headline_section(run: RunData) -> Section:
    overall = run.summary["overall"]
    cards = [headline_card(key, overall) for key in HEADLINE_METRICS if overall.get(key) is not None]
    cards += count_cards(overall, run.summary.get("usage") or {})
    return Section("overview", "总览", "Overview", f'<div class="cards">{"".join(cards)}</div>')


def count_cards(overall: dict, usage: dict) -> list[str]:
    """The cards beside the scores: items, unanswered rows, close calls, failed calls, tokens used."""
    cards = [
        count_card(
            "题目", "Items", overall.get("items"), f"{overall.get('rows', 0)} rows (item × option order)"
        )
    ]
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
    if usage.get("rows_with_tokens"):
        cards.append(usage_card(usage))
    return cards


def usage_card(usage: dict) -> str:
    latency = (f"; latency p50 {usage['latency_median_s']:.2g} s, p95 {usage['latency_p95_s']:.3g} s"
               if usage.get("latency_median_s") is not None else "")
    total = usage["prompt_tokens"] + usage["completion_tokens"]
    return count_card("用量", "Tokens", f"{total:,}", f"{usage['prompt_tokens']:,} prompt + "
                      f"{usage['completion_tokens']:,} completion ({usage['rows_with_tokens']:,} rows){latency}")


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
    extra = [k for k in LEADERBOARD_METRICS if any(r.summary["overall"].get(k) is not None for r in runs)]
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
    key = primary_metric(run.summary["overall"])
    return -(run.summary["overall"][key]) if key else 1.0


def leaderboard_cells(rank: int, run: RunData, dims: list[str], extra: list[str]) -> list[str]:
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
    return cells + [esc(overall.get("items", "–")), esc(overall.get("errors") or 0)]


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
            label = dimension_title(name)
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


