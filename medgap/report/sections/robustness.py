"""How an answer holds up when the options move: accuracy against robustness over shuffled orders,
and the share of answers by option position against the gold's."""

from __future__ import annotations

from medgap.cli.tables import Column, note_text
from medgap.report.charts import Bar, Label, Series, bar_chart, esc, pct
from medgap.report.collect import RunData
from medgap.report.format import bar_of, dimension_label
from medgap.report.metrics_shown import ROBUSTNESS_SERIES, metric_label
from medgap.report.sections.layout import Section, panel_section, panels


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
    return panel_section("position", "位置偏好", "Positional bias", runs, position_chart)


def position_chart(run: RunData, width: int) -> str | None:
    """The share of chosen and of gold answers at each option position, with the test's verdict."""
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


