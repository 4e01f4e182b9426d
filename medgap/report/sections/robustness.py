"""How an answer holds up when the options move: accuracy against robustness over shuffled orders,
and the share of answers by option position against the gold's."""

from __future__ import annotations

from medgap.analysis.robustness import PositionalBias, RobustnessDetails
from medgap.cli.tables import robustness_note
from medgap.report.charts import Bar, Label, Series, bar_chart, esc, pct
from medgap.report.collect import RunData
from medgap.report.format import bar_of, dimension_label
from medgap.report.metrics_shown import ROBUSTNESS_SERIES, metric_label
from medgap.report.sections.layout import Section, panel_section, panels


def robustness_section(runs: list[RunData]) -> Section | None:
    def draw(run: RunData, width: int) -> str | None:
        dims = [d for d, g in run.summary.dimensions.items() if g.value("robustness") is not None]
        if not dims:
            return None
        groups = [run.summary.overall] + [run.summary.dimensions[d] for d in dims]
        keys = [k for k in ROBUSTNESS_SERIES if any(g.value(k) is not None for g in groups)]
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
        if (text := robustness_note(run.summary.overall))
    ]
    return Section("robustness", "稳健性与准确率", "Robustness vs accuracy", body + note + "".join(left_out))


def positional_section(runs: list[RunData]) -> Section | None:
    return panel_section("position", "位置偏好", "Positional bias", runs, position_chart)


def position_chart(run: RunData, width: int) -> str | None:
    """The share of chosen and of gold answers at each option position, with the test's verdict."""
    details = run.summary.overall.details.get("choice")
    bias = details.positional_bias if isinstance(details, RobustnessDetails) else None
    if bias is None or not bias.positions:
        return None
    positions = bias.positions
    categories = [Label(f"第{p.position}位", f"shown as {p.letter}") for p in positions]
    series = [
        Series("模型选择 · chosen", [Bar(p.chosen_share, note=f"{p.chosen} rows") for p in positions], "#2563eb"),
        Series("正确答案所在 · gold", [Bar(p.gold_share, note=f"{p.gold} rows") for p in positions], "#9ca3af"),
    ]
    peak = max([share for p in positions for share in (p.chosen_share, p.gold_share)] + [0.05])
    chart = bar_chart(
        categories,
        series,
        "Share of answers by option position: chosen vs gold",
        max_value=min(1.0, (int(peak * 10) + 1) / 10),
        width=width,
    )
    return chart + position_verdict(bias)


def position_verdict(bias: PositionalBias) -> str:
    p = bias.p_value
    parts = [f"n = {bias.n} single-answer rows"]
    if p is not None:
        verdict = "chosen positions differ from gold positions" if p < 0.05 else "no evidence of a position preference"
        parts.append(f"χ² = {bias.chi2:.2f}, df = {bias.dof}, p = {p:.3g}: {verdict}" if bias.chi2 is not None
                     else f"p = {p:.3g}: {verdict}")
    follows = bias.follows_position
    if follows is not None and follows.value is not None:
        parts.append(f"answer stays on one position while its content moves: {pct(follows.value)} of items")
    return f'<p class="hint">{esc(" · ".join(parts))}</p>'
