"""Inline SVG charts drawn in Python: no chart library, no network, small and testable.

Every piece of text that reaches the SVG goes through `esc`; numbers are formatted here. Values
are shares in [0, 1] unless a chart says otherwise, and are shown as percentages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH = 760
FONT = 13
SMALL = 11
PALETTE = (
    "#2563eb",
    "#d97706",
    "#059669",
    "#7c3aed",
    "#dc2626",
    "#0891b2",
    "#db2777",
    "#4b5563",
    "#65a30d",
    "#9333ea",
)
INK, MUTED, GRID, WHISKER = "#111827", "#4b5563", "#e5e7eb", "#111827"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def text_width(text: str, size: float = FONT) -> float:
    """Rough rendered width: CJK glyphs are square, Latin ones a bit over half as wide."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


@dataclass(frozen=True)
class Label:
    """A category label: the main line (often Chinese) and an optional smaller second line."""

    main: str
    sub: str = ""

    @property
    def text(self) -> str:
        return f"{self.main} {self.sub}".strip()


@dataclass(frozen=True)
class Bar:
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""  # extra tooltip text, e.g. "n=120"


@dataclass
class Series:
    name: str
    bars: list[Bar]
    color: str = ""


@dataclass
class Segment:
    name: str
    count: int


@dataclass
class StackRow:
    label: Label
    segments: list[Segment] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.count for s in self.segments)


def svg(width: int, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height:.0f}" role="img" aria-label="{esc(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="{FONT}">'
        f"<title>{esc(title)}</title>{''.join(body)}</svg>"
    )


def text(
    x: float,
    y: float,
    content: str,
    *,
    size: int = FONT,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
        f'font-weight="{weight}" dominant-baseline="middle">{esc(content)}</text>'
    )


def label_column_width(labels: list[Label], width: int) -> float:
    widest = max((max(text_width(label.main), text_width(label.sub, SMALL)) for label in labels), default=60)
    return min(max(widest + 16, 110), 300, width * 0.4)


def draw_label(label: Label, x: float, y: float) -> str:
    if not label.sub:
        return text(x, y, label.main, anchor="end")
    return text(x, y - 7, label.main, anchor="end") + text(
        x, y + 8, label.sub, size=SMALL, anchor="end", fill=MUTED
    )


def legend(
    names: list[str], colors: list[str], y: float, width: int, x0: float = 8
) -> tuple[list[str], float]:
    """Legend items laid left to right, wrapping; returns the pieces and the height used."""
    parts, x, line = [], x0, 0
    for name, color in zip(names, colors, strict=True):
        item = 18 + text_width(name, SMALL) + 18
        if x + item > width and x > x0:
            x, line = x0, line + 1
        cy = y + line * 18
        parts.append(f'<rect x="{x:.1f}" y="{cy - 5:.1f}" width="12" height="10" rx="2" fill="{color}"/>')
        parts.append(text(x + 17, cy, name, size=SMALL, fill=INK))
        x += item
    return parts, (line + 1) * 18 if names else 0


def ticks_for(max_value: float) -> list[float]:
    return [max_value * i / 4 for i in range(5)]


def bar_chart(
    categories: list[Label],
    series: list[Series],
    title: str,
    *,
    max_value: float = 1.0,
    width: int = WIDTH,
    show_legend: bool | None = None,
) -> str:
    """Horizontal bars grouped by category, one bar per series, with 95% CI whiskers. The legend
    shows by default when there are several series."""
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    left = label_column_width(categories, width)
    right = 66
    plot_w = width - left - right
    bar_h = 18 if len(series) == 1 else 13
    group_h = len(series) * (bar_h + 3) - 3 + 16
    body: list[str] = []
    top = 10.0
    if show_legend or (show_legend is None and len(series) > 1):
        parts, used = legend([s.name for s in series], colors, top + 6, width)
        body += parts
        top += used + 6
    plot_h = group_h * len(categories)

    def x_of(value: float) -> float:
        return left + plot_w * min(max(value, 0.0), max_value) / max_value

    for tick in ticks_for(max_value):
        x = x_of(tick)
        body.append(
            f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{top + plot_h:.1f}" stroke="{GRID}"/>'
        )
        body.append(text(x, top + plot_h + 12, pct(tick, 0), size=SMALL, anchor="middle", fill=MUTED))
    for c, category in enumerate(categories):
        group_top = top + c * group_h + 8
        center = group_top + (group_h - 16) / 2
        body.append(draw_label(category, left - 10, center))
        for s, (one, color) in enumerate(zip(series, colors, strict=True)):
            bar = one.bars[c] if c < len(one.bars) else Bar(None)
            y = group_top + s * (bar_h + 3)
            body.append(draw_bar(bar, y, bar_h, color, x_of, f"{one.name} · {category.text}"))
    body.append(
        f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{top + plot_h:.1f}" stroke="{MUTED}"/>'
    )
    return svg(width, top + plot_h + 26, title, body)


def draw_bar(bar: Bar, y: float, height: float, color: str, x_of, what: str) -> str:
    mid = y + height / 2
    if bar.value is None:
        return text(x_of(0) + 6, mid, "n/a", size=SMALL, fill=MUTED)
    has_ci = bar.low is not None and bar.high is not None
    tip = ", ".join(
        filter(
            None,
            [
                f"{what}: {pct(bar.value)}",
                f"95% CI {pct(bar.low)}–{pct(bar.high)}" if has_ci else "",
                bar.note,
            ],
        )
    )
    x0, x1 = x_of(0), x_of(bar.value)
    rect = (
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1):.1f}" height="{height:.1f}" rx="2" '
        f'fill="{color}"><title>{esc(tip)}</title></rect>'
    )
    parts = [rect]
    end = x1
    if has_ci:
        lo, hi = x_of(bar.low), x_of(bar.high)
        parts.append(
            f'<path d="M{lo:.1f},{mid:.1f}H{hi:.1f}M{lo:.1f},{mid - 4:.1f}V{mid + 4:.1f}'
            f'M{hi:.1f},{mid - 4:.1f}V{mid + 4:.1f}" stroke="{WHISKER}" stroke-width="1.3" fill="none"/>'
        )
        end = max(end, hi)
    parts.append(text(end + 6, mid, pct(bar.value), size=SMALL, fill=INK))
    return "".join(parts)


def stacked_chart(rows: list[StackRow], title: str, *, width: int = WIDTH) -> str:
    """One 100%-wide bar per row, split into segments by share; a shared legend above."""
    names = list(dict.fromkeys(seg.name for row in rows for seg in row.segments))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    left = label_column_width([r.label for r in rows], width)
    right = 60
    plot_w = width - left - right
    body: list[str] = []
    top = 10.0
    parts, used = legend(names, [colors[n] for n in names], top + 6, width)
    body += parts
    top += used + 8
    row_h, bar_h = 36, 22
    for r, row in enumerate(rows):
        y = top + r * row_h
        mid = y + bar_h / 2
        body.append(draw_label(row.label, left - 10, mid))
        x = left
        for seg in row.segments:
            if not seg.count:
                continue
            seg_w = plot_w * seg.count / row.total
            share = seg.count / row.total
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{seg_w:.1f}" height="{bar_h}" '
                f'fill="{colors[seg.name]}" stroke="#ffffff" stroke-width="1">'
                f"<title>{esc(f'{row.label.text} · {seg.name}: {seg.count} ({pct(share)})')}</title></rect>"
            )
            if seg_w >= 26:
                body.append(
                    text(
                        x + seg_w / 2,
                        mid,
                        str(seg.count),
                        size=SMALL,
                        anchor="middle",
                        fill="#ffffff",
                        weight="bold",
                    )
                )
            x += seg_w
        body.append(text(width - right + 8, mid, f"n={row.total}", size=SMALL, fill=MUTED))
    return svg(width, top + len(rows) * row_h + 4, title, body)


@dataclass(frozen=True)
class Diff:
    """A paired difference b − a with its interval, on the scale of shares (0.03 = 3 points)."""

    label: Label
    diff: float
    low: float | None
    high: float | None
    p_value: float | None = None


def nice_ceiling(value: float) -> float:
    for step in (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0):
        if value <= step:
            return step
    return float(int(value) + 1)


def diff_chart(diffs: list[Diff], title: str, *, width: int = WIDTH) -> str:
    """Forest plot of b − a: each difference with its CI around a zero line; significant ones coloured."""
    left = label_column_width([d.label for d in diffs], width)
    right = 190
    plot_w = width - left - right
    reach = max([abs(v) for d in diffs for v in (d.diff, d.low, d.high) if v is not None] + [0.01])
    bound = nice_ceiling(reach)
    top, row_h = 30, 32
    plot_h = row_h * len(diffs)

    def x_of(value: float) -> float:
        return left + plot_w * (value + bound) / (2 * bound)

    body = [
        text(x_of(-bound), 12, "← A 更好 · A better", size=SMALL, fill=MUTED),
        text(x_of(bound), 12, "B 更好 · B better →", size=SMALL, anchor="end", fill=MUTED),
    ]
    for tick in (-bound, -bound / 2, 0.0, bound / 2, bound):
        x = x_of(tick)
        stroke = MUTED if tick == 0 else GRID
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{top + plot_h:.1f}" stroke="{stroke}"/>'
        )
        body.append(
            text(
                x,
                top + plot_h + 12,
                f"{tick * 100:+.0f}" if tick else "0",
                size=SMALL,
                anchor="middle",
                fill=MUTED,
            )
        )
    for i, d in enumerate(diffs):
        mid = top + i * row_h + row_h / 2
        significant = d.p_value is not None and d.p_value < 0.05
        color = ("#059669" if d.diff > 0 else "#dc2626") if significant else MUTED
        body.append(draw_label(d.label, left - 10, mid))
        if d.low is not None and d.high is not None:
            body.append(
                f'<line x1="{x_of(d.low):.1f}" y1="{mid:.1f}" x2="{x_of(d.high):.1f}" y2="{mid:.1f}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        summary = f"{d.diff * 100:+.1f} pp" + (
            f" [{d.low * 100:+.1f}, {d.high * 100:+.1f}]" if d.low is not None and d.high is not None else ""
        )
        if d.p_value is not None:
            summary += f"  p={d.p_value:.3g}"
        body.append(
            f'<circle cx="{x_of(d.diff):.1f}" cy="{mid:.1f}" r="5" fill="{color}">'
            f"<title>{esc(d.label.text + ': ' + summary)}</title></circle>"
        )
        body.append(text(width - right + 10, mid, summary, size=SMALL, fill=INK))
    return svg(width, top + plot_h + 26, title, body)
