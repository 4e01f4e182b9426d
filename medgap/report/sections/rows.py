"""The browsable table of rows: its filters, pager and empty body, filled by the page script."""

from __future__ import annotations

from medgap.report.charts import esc
from medgap.report.collect import RunData
from medgap.report.sections.layout import Section


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


