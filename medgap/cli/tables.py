"""Terminal tables of a results summary. A column appears when any row of the table has its key;
new metrics add one entry to COLUMNS."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from medgap.records import DIMENSION_LABELS_ZH


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    with_ci: bool = False  # show [ci_low, ci_high] (keys "<key>_ci_low"/"ci_low" for accuracy)
    percent: bool = True


COLUMNS: list[Column] = [
    Column("items", "items", percent=False),
    Column("n", "rows", percent=False),
    Column("accuracy", "accuracy [95% CI]", with_ci=True),
    Column("voted_accuracy", "voted accuracy [95% CI]", with_ci=True),
    Column("strict_accuracy", "strict accuracy [95% CI]", with_ci=True),
    Column("robustness", "robustness [95% CI]", with_ci=True),
    Column("unanswered", "unanswered"),
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
    Column("ungraded", "ungraded", percent=False),
]


def fmt(value: object, percent: bool) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and percent:
        return f"{value:.3f}"
    return str(value)


def cell(group: dict, column: Column) -> str:
    value = group.get(column.key)
    text = fmt(value, column.percent)
    if column.with_ci and value is not None:
        low_key, high_key = ("ci_low", "ci_high") if column.key == "accuracy" else (
            f"{column.key}_ci_low", f"{column.key}_ci_high")
        if group.get(low_key) is not None:
            text += f" [{group[low_key]:.3f}, {group[high_key]:.3f}]"
    return text


def results_table(summary: dict, by: str = "dimensions") -> Table:
    groups = dict(summary[by])
    groups["overall"] = summary["overall"]
    columns = [c for c in COLUMNS if any(g.get(c.key) is not None for g in groups.values())]
    title = f"{summary['model']} · run {summary['run_id']}"
    table = Table(title=title, title_justify="left")
    table.add_column("dimension" if by == "dimensions" else "task")
    for column in columns:
        table.add_column(column.label, justify="right")
    for name, group in groups.items():
        label = f"{name} {DIMENSION_LABELS_ZH[name]}" if name in DIMENSION_LABELS_ZH else name
        style = "bold" if name == "overall" else None
        table.add_row(label, *(cell(group, c) for c in columns), style=style)
    return table
