"""The item-kind declarations (`medgap/kinds/`): what every other part reads about a kind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medgap.analysis.experiments import compared_metrics
from medgap.analysis.metrics import GroupSummary, group_summary
from medgap.kinds import all_metrics, all_specs, kind_names, spec_for
from medgap.kinds.aggregates import count_metric, mean_metric
from medgap.kinds.base import scorer_in
from medgap.records import Attempt, Gold, Response, Row, Sample, Score, Source
from medgap.solvers.prompts import render


def test_every_kind_declares_a_prompt_for_each_sample_kind_it_handles():
    for spec in all_specs():
        assert set(spec.prompts) == set(spec.kinds), spec.name
        for kind in spec.kinds:
            text = render(kind, "问题？", {"A": "甲", "B": "乙"} if kind in ("single", "multi") else {}, "病例")
            assert "问题？" in text and "病例" in text


def test_metric_names_are_unique_and_every_kind_has_a_primary_metric():
    names = [m.name for m in all_metrics()]
    assert len(names) == len(set(names))
    assert all(any(m.primary for m in spec.metrics) for spec in all_specs())
    assert {"single", "multi", "open", "fill", "extraction", "record"} <= set(kind_names())


def test_an_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown item kind 'essay'.*single"):
        spec_for("essay")
    with pytest.raises(ValueError, match="unknown item kind"):
        Sample(id="x", source=Source(dataset="d"), task="t", dimension="knowledge_qa", kind="essay", question="?")


def row(item: str, value: float | None, *, kind: str = "fill", permutation: int = 0, **details) -> Row:
    return Row(run_id="r", sample_id=item, permutation=permutation, task="t", dimension="knowledge_qa", kind=kind,
               attempt=Attempt(sample_id=item), response=Response(text="."), score=Score(value=value, details=details))


def test_mean_metrics_pool_rows_or_items_and_leave_out_rows_without_a_value():
    rows = [row("a", 1.0), row("a", 0.0, permutation=1), row("b", 1.0), row("c", None)]
    by_rows = mean_metric("m", "m", "m", over="rows", ci="binomial").aggregate(rows)
    by_items = mean_metric("m", "m", "m", over="items", ci="bootstrap").aggregate(rows)
    assert by_rows is not None and (by_rows.value, by_rows.n, by_rows.count) == (pytest.approx(2 / 3), 3, 2)
    assert by_items is not None and (by_items.value, by_items.n) == (pytest.approx(0.75), 2)
    assert mean_metric("m", "m", "m").aggregate([row("c", None)]) is None


def test_count_metrics_are_left_out_at_zero_unless_asked():
    flagged = count_metric("flags", "f", "f", lambda r: r.score.details.get("bad"))
    shown = count_metric("flags", "f", "f", lambda r: r.score.details.get("bad"), show_zero=True)
    rows = [row("a", 1.0), row("b", 0.0)]
    assert flagged.aggregate(rows) is None
    estimate = shown.aggregate(rows)
    assert estimate is not None and (estimate.value, estimate.n) == (0, 2)
    counted = flagged.aggregate([*rows, row("c", 0.0, bad=True)])
    assert counted is not None and (counted.value, counted.n) == (1, 3)


def test_a_group_holds_only_the_metrics_of_its_kinds():
    group = GroupSummary(**group_summary([row("a", 1.0), row("b", 0.0)], {}))
    assert list(group.metrics) == ["fill_accuracy"] and group.value("fill_accuracy") == 0.5
    assert group.value("accuracy") is None and group.details == {}


def test_experiments_compare_every_metric_declared_with_a_test():
    compared = {metric.name: metric.test for _, metric in compared_metrics()}
    assert compared["accuracy"] == compared["fill_accuracy"] == "mcnemar_exact"
    assert compared["macro_recall"] == compared["record_recall"] == "wilcoxon"
    assert "unanswered" not in compared and "micro_f1" not in compared


def test_a_kinds_scoring_module_loads_when_an_item_of_the_kind_is_first_scored():
    heavy = ["medgap.scoring.open", "medgap.scoring.record", "medgap.scoring.fill", "medgap.scoring.extraction",
             "medgap.scoring.matching", "medgap.scoring.keypoints", "jieba"]
    code = ("import sys, medgap.cli.run, medgap.kinds; medgap.kinds.all_specs(); "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
    fill = Sample(id="f", source=Source(dataset="d"), task="t", dimension="knowledge_qa", kind="fill", question="?",
                  gold=Gold(text="阿司匹林"))
    scored = spec_for("fill").scorer(fill, Attempt(sample_id="f"), Response(text="阿司匹林"))
    assert scored.value == 1.0


def test_a_deferred_scorer_that_names_nothing_fails_when_called():
    scorer = scorer_in("medgap.scoring.fill", "no_such_scorer")
    with pytest.raises(AttributeError, match="no_such_scorer"):
        scorer(Sample(id="f", source=Source(dataset="d"), task="t", dimension="knowledge_qa", kind="fill",
                      question="?"), Attempt(sample_id="f"), Response(text="x"))
