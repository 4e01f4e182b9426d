"""From run IDs to the page: gather each run, pair two runs when asked (or when both are arms of
one experiment), and build the HTML."""

from __future__ import annotations

from medgap.report.collect import DEFAULT_MAX_ROWS, collect_run, compare_runs, is_experiment
from medgap.report.page import build_report
from medgap.store import Store


def report_for_runs(
    store: Store, run_ids: list[str], *, compare: bool = False, max_rows: int = DEFAULT_MAX_ROWS
) -> str:
    """The report of one or more stored runs. `compare` pairs exactly two runs; two runs that
    both carry config.extra["experiment"] are paired without it."""
    runs = [collect_run(store, run_id, max_rows) for run_id in dict.fromkeys(run_ids)]
    if compare and len(runs) != 2:
        raise ValueError(f"--compare needs exactly two runs, got {len(runs)}")
    comparison, notes = None, {}
    if compare or (len(runs) == 2 and is_experiment(runs[0].config, runs[1].config)):
        comparison = compare_runs(store, runs[0].config, runs[1].config)
        if comparison.warnings:
            notes["compare"] = "; ".join(comparison.warnings)
    return build_report(runs, comparison, notes)
