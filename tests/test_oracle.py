"""`mock/oracle` answers every item kind with its gold, so an oracle run scores 1.0 on every metric:
the pipeline check a user runs before trusting a score of a real model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.kinds.record import record_text
from medgap.models.mock import oracle_answer
from medgap.records import Attempt, Gold, Sample, Source

app = load_commands()

SCORES = ("accuracy", "accuracy_answered", "fill_accuracy", "micro_f1", "precision", "recall", "macro_f1",
          "section_coverage", "record_recall", "record_rouge_l", "macro_recall", "rouge_l")


def test_an_oracle_run_of_the_full_demo_suite_scores_one_everywhere(tmp_path):
    db = str(tmp_path / "runs.db")
    run = CliRunner().invoke(app, ["run", "-m", "mock/oracle", "--suite", "demo-full", "--db", db,
                                   "--run-id", "o", "-q"])
    assert run.exit_code == 0, run.output
    result = json.loads(CliRunner().invoke(app, ["results", "o", "--db", db, "--json"]).stdout)
    kinds = set()
    for name, group in result["dimensions"].items():
        metrics = {key: estimate["value"] for key, estimate in group["metrics"].items()}
        found = {key: metrics[key] for key in SCORES if key in metrics}
        assert found, name
        assert all(value == pytest.approx(1.0) for value in found.values()), (name, found)
        kinds |= set(found)
        assert metrics.get("format_error_rate", 0) == 0 and metrics.get("unanswered", 0) == 0
    # every kind was there: choice, fill-in, extraction, record, open
    assert {"accuracy", "fill_accuracy", "micro_f1", "record_recall", "macro_recall"} <= kinds


def test_the_oracle_writes_extraction_gold_as_data_and_records_as_sections():
    source = Source(dataset="fixture")
    extraction = Sample(id="e", source=source, task="t", dimension="language_understanding", kind="extraction",
                        question="找出实体", gold=Gold(structure=[{"type": "药物", "entity": "头孢曲松"}]))
    assert json.loads(oracle_answer(extraction, Attempt(sample_id="e"))) == [{"type": "药物", "entity": "头孢曲松"}]
    record = Sample(id="r", source=source, task="t", dimension="language_generation", kind="record",
                    question="写病历", gold=Gold(structure={"主诉": "咳嗽3天。", "诊断": {"text": "急性支气管炎。"}}))
    assert oracle_answer(record, Attempt(sample_id="r")) == "主诉：咳嗽3天。\n诊断：急性支气管炎。"
    assert record_text([{"type": "主诉", "entity": "发热2天"}]) == "主诉：发热2天"
