"""Which metrics the report shows and what it calls them. Names, headline cards, the score that ranks
a run and the per-task charts come from the item kinds' declarations (`medgap/kinds/`); the robustness
chart's series and the leaderboard's extra columns are choices of this report."""

from __future__ import annotations

from medgap.analysis.metrics import GroupSummary
from medgap.kinds import all_metrics, all_specs, metric
from medgap.kinds.base import ReportSection
from medgap.report.charts import esc

ROBUSTNESS_SERIES = ("accuracy", "voted_accuracy", "strict_accuracy", "robustness")
# the columns a leaderboard adds after its dimensions, where any run has them
LEADERBOARD_METRICS = ("robustness", "macro_recall", "rouge_l")


def headline_metrics() -> list[str]:
    return [m.name for m in all_metrics() if m.headline]


def primary_metrics() -> list[str]:
    """What ranks a run, and the score a leaderboard cell shows for a dimension: each kind's primary
    metric, in kind order."""
    return [m.name for spec in all_specs() for m in spec.metrics if m.primary]


def task_sections() -> list[ReportSection]:
    return [spec.section for spec in all_specs() if spec.section]


def metric_names(key: str) -> tuple[str, str]:
    """(Chinese, English) name of a metric."""
    spec = metric(key)
    return (spec.zh, spec.en) if spec else (key, key)


def metric_label(key: str) -> str:
    zh, en = metric_names(key)
    return zh if zh == en or not en else f"{zh} · {en}"


def primary_metric(group: GroupSummary | None) -> str | None:
    if group is None:
        return None
    return next((key for key in primary_metrics() if group.value(key) is not None), None)


def metric_note(key: str | None) -> str:
    if key is None or key == "accuracy":
        return ""
    return f' <span class="metric">{esc(metric_names(key)[1])}</span>'
