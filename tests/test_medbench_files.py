"""MedBench files in the shapes they circulate in (fixtures written for medgap under
tests/fixtures/medbench, not MedBench data): load, replay with `--skip-bad`, score, export as a
submission and replay the export.

- v4/MedExam_V4: V4 task name; options on one line without spaces (`A、希波克拉底B、盖伦…`,
  `…的是A.宜进行…B.半衰期短…`) or as one string; shuffled copies under one id (two share an order);
  ungraded; replies as `b`, `答案：b`, option lines with letters, option texts without letters.
- v4/mixed_V4: MedEthics_V4, MedSafety_V4, MedRxCheck_SCQ, MedRxCheck_MSQ_V4, CMB-Clin-extended
  (`"options": null`, no gold, one case id with two questions); `## 问题` layout; a BOM.
- old/MedSafety, old/Med-Exam: a few-shot preamble (an example ending in `答: A`) before each of 5
  shuffled copies, options in the question, CRLF; predictions with a git merge conflict, a
  truncated line, and two copies in one order answered differently.
- old/MedMC, old/CMB-Clin: open, ungraded; CMB-Clin without `other.id`, its predictions without
  `other` and with the question spelled differently.
- bad/broken: a truncated first line, lost options, a gold letter outside the options, an
  unknown task on three lines, a letter gold without options.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medgap.analysis.metrics import summarize_run
from medgap.cli import load_commands
from medgap.cli.tables import robustness_note
from medgap.datasets import DatasetError, detect_format, load_file
from medgap.store import Store

app = load_commands()
FIXTURES = Path(__file__).parent / "fixtures" / "medbench"

# data file -> data lines that are rows (all but the bad ones), items, ungraded rows
SHAPES = {
    "v4/MedExam_V4": (11, 4, 11),
    "v4/mixed_V4": (6, 6, 6),
    "old/MedSafety": (10, 2, 0),
    "old/Med-Exam": (10, 2, 0),
    "old/MedMC": (3, 3, 2),  # one prediction is null: a failed row, retried on resume
    "old/CMB-Clin": (2, 2, 2),
    "bad/broken": (2, 2, 0),
}


def data_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip())


def invoke(*args: str):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


def replay(db: Path, run_id: str, predictions: Path, data: Path):
    return invoke("run", "-m", f"replay/{predictions}", "--suite", data, "--skip-bad", "--db", db,
                  "--run-id", run_id, "-q")


def summary(db: Path, run_id: str) -> dict:
    """`medgap results --json`, each group flattened to figures: `<metric>`, `<metric>_n`, the row
    counts and the kinds' details (robustness `excluded`, `answered_twice`, `positional_bias`, ...)."""
    found = json.loads(invoke("results", run_id, "--db", db, "--json").output)
    return {"overall": flat(found["overall"]), "dimensions": {d: flat(g) for d, g in found["dimensions"].items()}}


def flat(group: dict) -> dict:
    figures = {key: group[key] for key in ("rows", "items", "errors", "ungraded")}
    for details in group["details"].values():
        figures.update(details)
    for name, estimate in group["metrics"].items():
        figures.update({name: estimate["value"], f"{name}_n": estimate["n"]})
    return figures


def rows(db: Path, run_id: str) -> dict:
    with Store(db) as store:
        return {(r.sample_id, r.permutation): r for r in store.iter_rows(run_id)}


@pytest.mark.parametrize("shape", SHAPES)
def test_replay_gives_a_row_per_data_line_and_the_export_replays_to_the_same_scores(shape, tmp_path):
    data, predictions = FIXTURES / f"{shape}.jsonl", FIXTURES / f"{shape}.predictions.jsonl"
    expected_rows, items, ungraded = SHAPES[shape]
    db = tmp_path / "runs.db"
    replay(db, "first", predictions, data)
    first = rows(db, "first")
    assert len(first) == expected_rows
    if shape != "bad/broken":
        assert expected_rows == data_lines(data)
    got = summary(db, "first")["overall"]
    assert got["items"] == items and got["ungraded"] == ungraded

    export = tmp_path / "submission.jsonl"
    invoke("export", "first", "--format", "medbench", "-o", export, "--db", db)
    submitted = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert len(submitted) == expected_rows
    originals = [json.loads(line) for line in data.read_text(encoding="utf-8-sig").splitlines() if parses(line)]
    kept = [record for record in originals if {**record, "answer": None} in
            [{**s, "answer": None} for s in submitted]]
    assert len(kept) == expected_rows  # the data file's own records, answer filled, in its order
    assert [{**s, "answer": None} for s in submitted] == [{**r, "answer": None} for r in kept]

    replay(db, "again", export, data)
    again = rows(db, "again")
    assert again.keys() == first.keys()
    for key, row in first.items():
        assert (again[key].score.value, again[key].score.extracted, again[key].errored) == (
            row.score.value, row.score.extracted, row.errored), key
    # The submission keeps the first of two conflicting answers (old/MedSafety): what the rows
    # score is the same, the item is no longer answered twice (see the robustness test below).
    volatile = ("robustness", "positional_bias", "answered_twice", "voted") if shape == "old/MedSafety" else ()
    before, after = summary(db, "first"), summary(db, "again")
    assert without(before["overall"], volatile) == without(after["overall"], volatile)
    assert before["dimensions"].keys() == after["dimensions"].keys()
    for name, group in before["dimensions"].items():
        assert without(group, volatile) == without(after["dimensions"][name], volatile)


def parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def without(group: dict, prefixes: tuple[str, ...]) -> dict:
    return {key: value for key, value in group.items() if not key.startswith(prefixes)}


def test_v4_copies_on_one_line_and_reply_forms(tmp_path):
    db = tmp_path / "runs.db"
    replay(db, "r", FIXTURES / "v4/MedExam_V4.predictions.jsonl", FIXTURES / "v4/MedExam_V4.jsonl")
    got = rows(db, "r")
    contents = {}
    for (sample_id, permutation), row in got.items():
        chosen = row.attempt.options[row.score.extracted[0]] if row.score.extracted else None
        contents.setdefault(sample_id.rsplit("/", 1)[1], []).append((permutation, row.score.extracted, chosen))
    # `b`, `答案：A`, a bare letter, `（A）`: 希波克拉底 in every order but the last copy's
    assert [c[2] for c in sorted(contents["mx-001"])] == ["希波克拉底"] * 4 + ["盖伦"]
    assert {c[2] for c in contents["mx-002"]} == {"宜进行治疗药物监测"}  # `选B。…`, `**B**`, `答案：c`
    assert contents["mx-003"] == [(0, "D", "左氧氟沙星")]  # option text without a letter
    # option lines with letters, and option texts without letters, on a multi-answer item
    sets = [{row.attempt.options[letter] for letter in row.score.extracted}
            for (sample_id, _), row in got.items() if sample_id.endswith("mx-004")]
    assert sets == [{"发热", "咳嗽", "盗汗"}] * 2
    overall = summary(db, "r")["overall"]
    assert overall["robustness"] == pytest.approx(2 / 3) and overall["robustness_n"] == 3


def test_v4_and_old_task_names_have_their_dimensions():
    samples = load_file(FIXTURES / "v4/mixed_V4.jsonl")
    assert {s.task: s.dimension for s in samples} == {
        "medbench-MedEthics_V4": "safety_ethics",
        "medbench-MedSafety_V4": "safety_ethics",
        "medbench-MedRxCheck_SCQ": "safety_ethics",
        "medbench-MedRxCheck_MSQ_V4": "safety_ethics",
        "medbench-CMB-Clin-extended": "complex_reasoning",
    }
    kinds = {s.id: s.kind for s in samples}
    assert kinds["medbench-MedRxCheck_MSQ_V4/4"] == "multi" and kinds["medbench-CMB-Clin-extended/5~2"] == "open"
    assert {s.gold for s in samples} == {None}


def test_few_shot_copies_are_one_item_with_five_orders():
    samples = load_file(FIXTURES / "old/MedSafety.jsonl")
    assert [s.id for s in samples] == ["medbench-MedSafety/11", "medbench-MedSafety/12"]
    for sample in samples:
        assert len(sample.given_orders) == 5 and len(sample.metadata["occurrences"]) == 5
        assert sample.question in ("医务人员发现医疗事故时，应当首先", "发放高警示药品前应当")
        assert "答: A" in sample.metadata["instruction"]  # the worked example, kept apart
        assert sample.options[sample.gold.letters[0]] in ("立即向科室负责人报告", "双人核对")


def test_inconsistent_answers_in_one_file_count_as_inconsistent(tmp_path):
    """Old MedSafety predictions with a merge conflict: copy 3 of item 11 is answered twice,
    differently. The item stays in the robustness denominator, as inconsistent."""
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", "-m", f"replay/{FIXTURES / 'old/MedSafety.predictions.jsonl'}",
                                      "--suite", str(FIXTURES / "old/MedSafety.jsonl"), "--skip-bad",
                                      "--db", str(db), "--run-id", "r"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())  # the table may wrap the note
    for line in (3, 5, 7, 15):  # three conflict markers and a truncated line: reported, the rest kept
        assert f"MedSafety.predictions.jsonl:{line}:" in text
    assert "answered twice differently" in text
    overall = summary(db, "r")["overall"]
    assert overall["robustness_n"] == 2 and overall["robustness"] == 0.0
    assert overall["answered_twice"] == 1 and overall["excluded"] == 0
    conflicted = rows(db, "r")[("medbench-MedSafety/11", 2)]
    assert conflicted.response.alternatives and conflicted.score.value == 1.0
    report = tmp_path / "report.html"
    invoke("report", "r", "-o", report, "--db", db)
    assert "1 answered twice differently (inconsistent)" in report.read_text(encoding="utf-8")

    # two copies asked in one order, answered differently: each copy gets its own line
    replay(db, "exam", FIXTURES / "old/Med-Exam.predictions.jsonl", FIXTURES / "old/Med-Exam.jsonl")
    exam = rows(db, "exam")
    assert exam[("medbench-Med-Exam/21", 1)].attempt.order == exam[("medbench-Med-Exam/21", 4)].attempt.order
    assert exam[("medbench-Med-Exam/21", 1)].score.value == 1.0 and exam[("medbench-Med-Exam/21", 4)].score.value == 0.0
    assert summary(db, "exam")["overall"]["robustness"] == 0.5


def test_without_skip_bad_a_conflict_marker_stops_the_run_naming_its_line(tmp_path):
    result = CliRunner().invoke(app, ["run", "-m", f"replay/{FIXTURES / 'old/MedSafety.predictions.jsonl'}",
                                      "--suite", str(FIXTURES / "old/MedSafety.jsonl"), "--db",
                                      str(tmp_path / "runs.db")])
    assert result.exit_code == 1
    assert "MedSafety.predictions.jsonl:3: git merge-conflict marker" in " ".join(result.output.split())


def test_left_out_items_are_reported_with_the_reason(tmp_path):
    """An item whose prediction is missing in one order is left out of robustness, and the table
    says so beside the figure."""
    predictions = tmp_path / "preds.jsonl"
    lines = (FIXTURES / "old/Med-Exam.predictions.jsonl").read_text(encoding="utf-8").splitlines()
    predictions.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # item 22's last copy lost
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", "-m", f"replay/{predictions}", "--suite",
                                      str(FIXTURES / "old/Med-Exam.jsonl"), "--db", str(db), "--run-id", "r"])
    assert result.exit_code == 0, result.output
    overall = summary(db, "r")["overall"]
    assert overall["robustness_n"] == 1 and overall["excluded"] == 1
    assert overall["excluded_why"] == {"no prediction for other.id": 1}
    with Store(db) as store:
        stored = summarize_run(store, "r")
    assert robustness_note(stored.overall) == "1 items left out: no prediction for other.id (1)"


def test_bad_rows_name_file_line_and_field():
    path = FIXTURES / "bad/broken.jsonl"
    assert detect_format(path) == "medbench"  # a truncated first line does not make it CSV
    errors: list[DatasetError] = []
    samples = load_file(path, skip_bad=True, on_skip=errors.append)
    assert [s.id for s in samples] == ["medbench-Med-Exam/41", "medbench-MedHC/47"]
    assert samples[1].kind == "open" and samples[1].gold.text == "A"  # a blood type, not a letter
    found = {(e.line, e.field): e.message for e in errors}
    assert set(found) == {(1, None), (3, "options"), (4, "answer"), (9, "options"), (5, "other.source")}
    assert "invalid JSON" in found[(1, None)]
    assert "Med-Exam is a choice task but this row has no options" in found[(3, "options")]
    assert "unknown answer letter 'F'" in found[(4, "answer")]
    assert "'NewTask2030' on 3 lines" in found[(5, "other.source")]  # once, not once per line
    with pytest.raises(DatasetError) as info:
        load_file(path)
    assert info.value.line == 1 and str(info.value).startswith(f"{path}:1:")


def test_a_file_no_line_of_which_is_json_is_an_error_not_csv(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text("<<<<<<< HEAD\nnot json, at all\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        detect_format(path)
    assert info.value.line == 1 and "cannot tell the format" in str(info.value)
    unsuffixed = tmp_path / "data.txt"
    unsuffixed.write_text('{"question": "q", "answer": \n{"question": "题", "options": null, "answer": null, '
                          '"other": {"source": "MedMC", "id": 1}}\n', encoding="utf-8")
    assert detect_format(unsuffixed) == "medbench"


def test_cmb_clin_without_ids_matches_questions_spelled_differently(tmp_path):
    db = tmp_path / "runs.db"
    replay(db, "r", FIXTURES / "old/CMB-Clin.predictions.jsonl", FIXTURES / "old/CMB-Clin.jsonl")
    texts = {row.sample_id: row.response.text for row in rows(db, "r").values()}
    assert texts == {"medbench-CMB-Clin/L1": "急性胆囊炎。", "medbench-CMB-Clin/L2": "腹部超声、血常规、肝功能。"}
