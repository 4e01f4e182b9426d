"""True/false statements: the kind added as one module (`medgap/kinds/truefalse.py`), asked, scored,
summed up, compared and shown like every other kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.datasets import load_file
from medgap.datasets.errors import DatasetError
from medgap.kinds.truefalse import verdict_of

app = load_commands()
DATA = Path(__file__).parent / "fixtures" / "truefalse" / "statements.jsonl"


@pytest.mark.parametrize("reply, verdict", [
    ("答案：错误", "错误"), ("答案是正确。", "正确"), ("判断：×", "错误"), ("答案：F", "错误"),
    ("这个说法不正确，因为……", "错误"), ("√ 该说法符合指南。", "正确"), ("我无法判断。", None), ("", None),
])
def test_verdicts_are_read_from_free_text(reply, verdict):
    assert verdict_of(reply) == verdict


def test_answers_in_any_usual_form_load_and_a_bad_one_names_its_line_and_field(tmp_path):
    samples = load_file(DATA)
    assert [s.kind for s in samples] == ["truefalse"] * 6 and samples[-1].gold is None
    bad = tmp_path / "bad.jsonl"
    unreadable = {"id": "x", "kind": "truefalse", "dimension": "knowledge_qa", "question": "?", "answer": "大概"}
    first = DATA.read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(f"{first}\n{json.dumps(unreadable, ensure_ascii=False)}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2.*answer.*正确/错误"):
        load_file(bad)


def results(db: Path, run_id: str) -> dict:
    return json.loads(CliRunner().invoke(app, ["results", run_id, "--db", str(db), "--json"]).stdout)


def test_runs_score_report_and_compare_true_false_items(tmp_path):
    db = tmp_path / "runs.db"
    for model, run_id in (("mock/oracle", "oracle"), ("mock/refuse", "refuse")):
        run = CliRunner().invoke(app, ["run", "-m", model, "--suite", str(DATA), "--db", str(db), "--run-id", run_id,
                                       "-q"])
        assert run.exit_code == 0, run.output
    oracle, refuse = results(db, "oracle")["overall"], results(db, "refuse")["overall"]
    assert oracle["metrics"]["judgement_accuracy"]["value"] == 1.0 and oracle["ungraded"] == 1
    assert refuse["metrics"]["judgement_accuracy"]["value"] == 0.0
    assert refuse["metrics"]["judgement_unanswered"]["value"] == 1.0  # no verdict: unanswered, not a wrong verdict
    compared = json.loads(CliRunner().invoke(app, ["compare", "refuse", "oracle", "--db", str(db), "--json"]).stdout)
    assert compared["overall"]["judgement_accuracy"]["diff"] == 1.0
    report = tmp_path / "report.html"
    shown = CliRunner().invoke(app, ["report", "oracle", "refuse", "--db", str(db), "-o", str(report)])
    assert shown.exit_code == 0, shown.output
    page = report.read_text(encoding="utf-8")
    assert "<h4>True/false statements</h4>" in page and "判断题准确率" in page
