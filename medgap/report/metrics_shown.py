"""Which metrics the report shows and what it calls them: the names of every metric, the headline
cards, the robustness chart's series, the score that ranks a run, the leaderboard's extra columns and
the task families charted per task. Every such declaration lives here, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from medgap.report.charts import esc

# metric key -> (Chinese, English); the order is the order of headline cards and chart series
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "accuracy": ("准确率", "Accuracy"),
    "strict_accuracy": ("严格准确率", "Strict accuracy"),
    "voted_accuracy": ("投票准确率", "Voted accuracy"),
    "robustness": ("稳健性", "Robustness"),
    "macro_recall": ("要点召回率", "Macro recall"),
    "rouge_l": ("ROUGE-L", "ROUGE-L"),
    "fill_accuracy": ("填空准确率", "Fill-in accuracy"),
    "multi_micro_f1": ("多选 micro-F1", "Multi-answer micro-F1"),
    "micro_f1": ("抽取 micro-F1", "Extraction micro-F1"),
    "macro_f1": ("分类 macro-F1", "Classification macro-F1"),
    "classification_accuracy": ("分类准确率", "Classification accuracy"),
    "format_error_rate": ("格式错误率", "Format errors"),
    "record_recall": ("病历要点召回率", "Record recall"),
    "section_coverage": ("章节覆盖率", "Section coverage"),
    "record_rouge_l": ("病历 ROUGE-L", "Record ROUGE-L"),
    "unanswered": ("未作答率", "Unanswered"),
}
HEADLINE_METRICS = (
    "accuracy",
    "strict_accuracy",
    "robustness",
    "macro_recall",
    "rouge_l",
    "fill_accuracy",
    "micro_f1",
    "record_recall",
)
ROBUSTNESS_SERIES = ("accuracy", "voted_accuracy", "strict_accuracy", "robustness")
# what ranks a run, and the score a leaderboard cell shows for a dimension
PRIMARY_METRICS = ("accuracy", "macro_recall", "fill_accuracy", "micro_f1", "record_recall", "rouge_l")
# the columns a leaderboard adds after its dimensions, where any run has them
LEADERBOARD_METRICS = ("robustness", "macro_recall", "rouge_l")


@dataclass(frozen=True)
class MetricFamily:
    """Metrics of one kind of task, charted together per task."""

    title: str
    keys: tuple[str, ...]
    explanation: str


TASK_FAMILIES = (
    MetricFamily(
        "Open-ended answers",
        ("macro_recall", "rouge_l"),
        "Macro recall: share of the reference key points a response covers, averaged over items. "
        "ROUGE-L: longest-common-subsequence F-score against the reference, on single characters "
        "(as MedBench and OpenCompass compute it).",
    ),
    MetricFamily(
        "Fill-in answers", ("fill_accuracy",), "Fill-in accuracy: share of blanks filled as expected."
    ),
    MetricFamily(
        "Information extraction",
        ("micro_f1", "macro_f1", "classification_accuracy"),
        "Micro-F1 over extracted items pooled across rows; macro-F1 and accuracy over classification items.",
    ),
    MetricFamily(
        "Medical records",
        ("record_recall", "section_coverage", "record_rouge_l"),
        "Record recall: key points covered within the right sections; section coverage: required sections "
        "present; ROUGE-L against the reference record.",
    ),
)


def metric_label(key: str) -> str:
    zh, en = METRIC_NAMES.get(key, (key, ""))
    return zh if zh == en or not en else f"{zh} · {en}"


def ci_keys(key: str) -> tuple[str, str]:
    return ("ci_low", "ci_high") if key == "accuracy" else (f"{key}_ci_low", f"{key}_ci_high")


def primary_metric(group: dict) -> str | None:
    return next((key for key in PRIMARY_METRICS if group.get(key) is not None), None)


def metric_note(key: str | None) -> str:
    if key is None or key == "accuracy":
        return ""
    return f' <span class="metric">{esc(METRIC_NAMES.get(key, (key, key))[-1])}</span>'

