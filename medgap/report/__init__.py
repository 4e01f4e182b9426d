"""`medgap report`: one self-contained HTML page per run, several runs, or a paired comparison."""

from medgap.report.build import report_for_runs
from medgap.report.collect import Comparison, RunData, collect_run, compare_runs
from medgap.report.page import build_report, write_report

__all__ = [
    "Comparison",
    "RunData",
    "build_report",
    "collect_run",
    "compare_runs",
    "report_for_runs",
    "write_report",
]
