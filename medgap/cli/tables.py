"""Terminal tables of a results summary: a line per (group, metric) the group has; new metrics add
one entry to COLUMNS."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from medgap.records import DIMENSION_LABELS_ZH


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    with_ci: bool = False  # show [ci_low, ci_high] (keys "<key>_ci_low"/"ci_low" for accuracy)
    percent: bool = True
    hide_zero: bool = False  # no line for a count of 0
    of: str | None = None  # shown as "value of group[of]"


COLUMNS: list[Column] = [
    Column("items", "items", percent=False),
    Column("n", "choice rows", percent=False),
    Column("accuracy", "accuracy [95% CI]", with_ci=True),
    Column("voted_accuracy", "voted accuracy [95% CI]", with_ci=True),
    Column("strict_accuracy", "strict accuracy [95% CI]", with_ci=True),
    Column("robustness", "robustness [95% CI]", with_ci=True),
    Column("unanswered", "unanswered"),
    Column("close_calls", "decided by < 0.1 nats", percent=False, of="logprob_rows"),
    Column("multi_micro_f1", "multi micro-F1"),
    Column("micro_f1", "extraction micro-F1 [95% CI]", with_ci=True),
    Column("macro_f1", "class macro-F1"),
    Column("format_error_rate", "format errors"),
    Column("macro_recall", "macro-recall [95% CI]", with_ci=True),
    Column("rouge_l", "ROUGE-L"),
    Column("fill_accuracy", "fill accuracy [95% CI]", with_ci=True),
    Column("judge_errors", "judge errors", percent=False),
    Column("section_coverage", "section coverage"),
    Column("record_recall", "record recall [95% CI]", with_ci=True),
    Column("record_rouge_l", "record ROUGE-L"),
    Column("errors", "errors", percent=False),
    Column("ungraded", "ungraded", percent=False, hide_zero=True),
]


def fmt(value: object, percent: bool) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and percent:
        return f"{value:.3f}"
    return str(value)


def ci_text(group: dict, column: Column) -> str:
    if not column.with_ci or group.get(column.key) is None:
        return ""
    low_key, high_key = ("ci_low", "ci_high") if column.key == "accuracy" else (
        f"{column.key}_ci_low", f"{column.key}_ci_high")
    if group.get(low_key) is None:
        return ""
    return f"{group[low_key]:.3f}–{group[high_key]:.3f}"


def note_text(group: dict, column: Column) -> str:
    """What stands beside a figure: for robustness, the items left out and why, and the items
    counted inconsistent because one prompt got two different answers."""
    if column.key != "robustness":
        return ""
    notes = []
    why = group.get("robustness_excluded_why") or {}
    if why:
        reasons = ", ".join(f"{reason} ({n})" for reason, n in why.items())
        notes.append(f"{sum(why.values())} items left out: {reasons}")
    if group.get("robustness_answered_twice"):
        notes.append(f"{group['robustness_answered_twice']} answered twice differently (inconsistent)")
    return "\n".join(notes)


def group_label(name: str) -> str:
    return f"{name}\n{DIMENSION_LABELS_ZH[name]}" if name in DIMENSION_LABELS_ZH else name


def results_table(summary: dict, by: str = "dimensions") -> Table:
    """One line per (group, metric that applies to it): stays narrow however many metrics a run has."""
    groups = {**summary[by], "overall": summary["overall"]}
    title = f"{escape(summary['model'])} · run {escape(summary['run_id'])}"
    table = Table(title=title, title_justify="left")
    table.add_column("dimension" if by == "dimensions" else "task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for name, group in groups.items():
        columns = [c for c in COLUMNS if group.get(c.key) is not None and not (c.hide_zero and not group[c.key])]
        for index, column in enumerate(columns):
            table.add_row(
                group_label(name) if index == 0 else "",
                column.label.replace(" [95% CI]", ""),
                fmt(group[column.key], column.percent) + (f" of {group[column.of]}" if column.of else ""),
                "\n".join(part for part in (ci_text(group, column), note_text(group, column)) if part),
                style="bold" if name == "overall" else None,
                end_section=index == len(columns) - 1,
            )
    return table


def usage_line(summary: dict) -> str | None:
    """ "tokens: 5,322 in / 1,332 out (43 rows) · latency p50 0.95 s, p95 11.7 s" """
    usage = summary.get("usage") or {}
    parts = []
    if usage.get("rows_with_tokens"):
        parts.append(f"tokens: {usage['prompt_tokens']:,} in / {usage['completion_tokens']:,} out "
                     f"({usage['rows_with_tokens']:,} rows)")
    if usage.get("latency_median_s") is not None:
        parts.append(f"latency p50 {usage['latency_median_s']:.2g} s, p95 {usage['latency_p95_s']:.3g} s")
    return " · ".join(parts) or None
