"""Terminal tables of a results summary: a line per (group, metric) the group has, named as the
metric's kind declares it (`medgap/kinds/`)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from medgap.analysis.metrics import GroupSummary, RunSummary
from medgap.analysis.robustness import RobustnessDetails
from medgap.kinds import metric
from medgap.kinds.base import Estimate
from medgap.records import DIMENSION_LABELS_ZH


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def estimate_text(name: str, estimate: Estimate) -> tuple[str, str]:
    """(value, interval) of one metric as the table shows them."""
    spec = metric(name)
    if spec is not None and spec.unit == "count":
        return f"{estimate.value:g} of {estimate.n}", ""
    if spec is not None and spec.unit == "number":
        return fmt(estimate.value), ""
    ci = "" if estimate.ci_low is None or estimate.ci_high is None else f"{estimate.ci_low:.3f}–{estimate.ci_high:.3f}"
    return fmt(estimate.value), ci


def robustness_note(group: GroupSummary) -> str:
    """What stands beside robustness: the items left out and why, and the items counted inconsistent
    because one prompt got two different answers."""
    details = group.details.get("choice")
    if not isinstance(details, RobustnessDetails):
        return ""
    notes = []
    if details.excluded_why:
        reasons = ", ".join(f"{reason} ({n})" for reason, n in details.excluded_why.items())
        notes.append(f"{details.excluded} items left out: {reasons}")
    if details.answered_twice:
        notes.append(f"{details.answered_twice} answered twice differently (inconsistent)")
    return "\n".join(notes)


def group_lines(group: GroupSummary) -> list[tuple[str, str, str]]:
    """(metric, value, interval and notes) for every figure the group has."""
    lines = [("items", str(group.items), "")]
    for name, estimate in group.metrics.items():
        spec = metric(name)
        value, ci = estimate_text(name, estimate)
        note = robustness_note(group) if name == "robustness" else ""
        lines.append((spec.en if spec else name, value, "\n".join(part for part in (ci, note) if part)))
    lines.append(("errors", str(group.errors), ""))
    if group.ungraded:
        lines.append(("ungraded", str(group.ungraded), ""))
    return lines


def group_label(name: str) -> str:
    return f"{name}\n{DIMENSION_LABELS_ZH[name]}" if name in DIMENSION_LABELS_ZH else name


def results_table(summary: RunSummary, by: str = "dimensions") -> Table:
    """One line per (group, metric that applies to it): stays narrow however many metrics a run has."""
    title = f"{escape(summary.model)} · run {escape(summary.run_id)}"
    table = Table(title=title, title_justify="left")
    table.add_column("dimension" if by == "dimensions" else "task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for name, group in summary.groups(by).items():
        lines = group_lines(group)
        for index, (label, value, ci) in enumerate(lines):
            table.add_row(group_label(name) if index == 0 else "", escape(label), value, ci,
                          style="bold" if name == "overall" else None, end_section=index == len(lines) - 1)
    return table


def usage_line(summary: RunSummary) -> str | None:
    """ "tokens: 5,322 in / 1,332 out (43 rows) · latency p50 0.95 s, p95 11.7 s" """
    usage = summary.usage
    parts = []
    if usage.rows_with_tokens:
        parts.append(f"tokens: {usage.prompt_tokens:,} in / {usage.completion_tokens:,} out "
                     f"({usage.rows_with_tokens:,} rows)")
    if usage.latency_median_s is not None and usage.latency_p95_s is not None:
        parts.append(f"latency p50 {usage.latency_median_s:.2g} s, p95 {usage.latency_p95_s:.3g} s")
    return " · ".join(parts) or None
