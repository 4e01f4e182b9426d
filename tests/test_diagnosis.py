"""The diagnosis fires the right rules on constructed metric sets, with the numbers behind them."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from medgap.analysis.diagnosis import LEVEL4_ADVICE, RULES, Rule, RulesFileError, diagnose, load_rules
from medgap.analysis.metrics import GroupSummary, RunSummary, Usage
from medgap.analysis.stats import proportion_ci
from medgap.analysis.taxonomy import CATEGORY_KEYS
from medgap.cli import load_commands
from medgap.kinds.base import Estimate
from medgap.models import GenerateConfig, get_model
from medgap.records import RunConfig
from medgap.runner import run_eval
from medgap.store import Store
from tests.helpers import choice_sample

app = load_commands()


def errors_block(n: int, low: dict[str, int] | None = None, **counts: int) -> dict:
    """An error distribution as `error_distribution` gives it: `low` counts, per category, the
    low-confidence pre-labels (weight 0.3; the others are high-confidence, weight 1)."""
    full = {key: counts.get(key, 0) for key in CATEGORY_KEYS}
    lows = {key: (low or {}).get(key, 0) for key in CATEGORY_KEYS}
    weighted = {key: full[key] - 0.7 * lows[key] for key in CATEGORY_KEYS}
    total = n - 0.7 * sum(lows.values())  # rows not named in `counts` are high-confidence labels too
    return {"n": n, "counts": full, "shares": {k: v / n for k, v in full.items()}, "low_counts": lows,
            "weighted_n": total, "weighted_counts": weighted,
            "weighted_shares": {k: (v / total if total else 0.0) for k, v in weighted.items()}}


def group(rows: int, **figures: float) -> GroupSummary:
    """A group whose metrics are given as rules read them: `robustness=0.8, robustness_n=30, ...`."""
    names = [key for key in figures if not key.endswith(("_n", "_ci_low", "_ci_high"))]
    metrics = {name: Estimate(value=figures[name], n=int(figures.get(f"{name}_n", rows)),
                              ci_low=figures.get(f"{name}_ci_low"), ci_high=figures.get(f"{name}_ci_high"))
               for name in names}
    return GroupSummary(rows=rows, items=rows, errors=0, ungraded=0, metrics=metrics)


def facts(
    overall_errors: dict | None = None, dimension_errors: dict | None = None, **overall_metrics: float
) -> tuple[RunSummary, dict]:
    summary = RunSummary(run_id="r", model="m", suite="s", overall=group(100, **overall_metrics), usage=Usage(),
                         dimensions={d: group(50) for d in (dimension_errors or {})}, tasks={})
    errors = {"overall": overall_errors or errors_block(20), "dimensions": dimension_errors or {}}
    return summary, errors


def fired(result: dict) -> list[tuple[str, str]]:
    return [(f["rule"], f["scope"]) for f in result["findings"]]


def test_omissions_over_40_percent_point_to_checklist_then_retrieval():
    result = diagnose(*facts(errors_block(20, omission=10, hallucination=10)))
    (finding,) = [f for f in result["findings"] if f["rule"] == "omission"]
    assert finding["value"] == 0.5 and finding["support"] == 20 and finding["threshold"] == 0.4
    assert (finding["ci_low"], finding["ci_high"]) == proportion_ci(10, 20)
    assert [i["name"] for i in finding["interventions"]] == ["checklist", "retrieval"]
    assert [i["level"] for i in finding["interventions"]] == [1, 2]
    # exactly at the threshold does not fire (the rule says "more than 40%")
    assert "omission" not in {f["rule"] for f in diagnose(*facts(errors_block(20, omission=8)))["findings"]}


def test_too_few_errors_are_reported_as_unchecked_not_as_a_finding():
    result = diagnose(*facts(errors_block(5, omission=5)))
    assert fired(result) == []
    reason = "only 5 observations behind errors.weighted_shares.omission (rule needs 10)"
    assert {"rule": "omission", "scope": "overall", "reason": reason} in result["unchecked"]


def test_hallucinations_in_generation_point_to_retrieval_backed_verification():
    summary, errors = facts(errors_block(20, omission=12, hallucination=8),
                            {"language_generation": errors_block(10, hallucination=7, omission=3)})
    result = diagnose(summary, errors)
    assert ("hallucination_generation", "language_generation") in fired(result)
    finding = next(f for f in result["findings"] if f["rule"] == "hallucination_generation")
    assert [i["name"] for i in finding["interventions"]] == ["verify", "retrieval"]
    # the same share overall (40%) fires nothing about hallucination
    assert not any(rule == "hallucination" for rule, _ in fired(result))


def test_low_robustness_points_to_voting_or_constraint_prompting():
    result = diagnose(*facts(robustness=0.80, robustness_n=30, robustness_ci_low=0.61, robustness_ci_high=0.92))
    finding = next(f for f in result["findings"] if f["rule"] == "low_robustness")
    assert [i["name"] for i in finding["interventions"]] == ["vote", "checklist"]
    assert (finding["ci_low"], finding["ci_high"]) == (0.61, 0.92)
    assert "low_robustness" not in {f["rule"] for f in diagnose(*facts(robustness=0.9, robustness_n=30))["findings"]}
    unmeasured = diagnose(*facts())["unchecked"]
    assert {"rule": "low_robustness", "scope": "overall", "reason": "metrics.robustness not measured"} in unmeasured


def test_format_mismatch_over_10_percent_points_to_json():
    result = diagnose(*facts(errors_block(40, format_mismatch=5, hallucination=35)))
    finding = next(f for f in result["findings"] if f["rule"] == "format_mismatch")
    assert finding["value"] == 0.125 and [i["name"] for i in finding["interventions"]] == ["json"]
    findings = diagnose(*facts(errors_block(40, format_mismatch=4)))["findings"]
    assert "format_mismatch" not in {f["rule"] for f in findings}


def test_dominant_causal_reasoning_deficiency_is_named_as_level_4_research():
    summary, errors = facts(errors_block(20, omission=2),
                            {"complex_reasoning": errors_block(12, causal_reasoning_deficiency=8)})
    result = diagnose(summary, errors)
    finding = next(f for f in result["findings"] if f["rule"] == "causal_reasoning")
    assert finding["scope"] == "complex_reasoning" and finding["level"] == 4 and finding["interventions"] == []
    assert result["research"] == LEVEL4_ADVICE and "research" in finding["advice"]


def test_findings_are_ranked_by_how_far_past_the_threshold_and_the_plan_lists_each_intervention_once():
    # omission 60% (margin 0.5), format mismatch 30% (margin 2.0), robustness 0.5 (margin ~0.41)
    result = diagnose(*facts(errors_block(20, omission=12, format_mismatch=6, hallucination=2),
                             robustness=0.5, robustness_n=40))
    assert [f["rule"] for f in result["findings"]] == ["format_mismatch", "omission", "low_robustness"]
    assert [f["rank"] for f in result["findings"]] == [1, 2, 3]
    assert result["plan"] == ["json", "checklist", "retrieval", "vote"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_rules_file_changes_thresholds_disables_and_adds_rules(tmp_path):
    path = write(tmp_path / "rules.yaml", """
rules:
  - id: omission
    threshold: 0.3
  - id: format_mismatch
    enabled: false
  - id: low_accuracy
    signature: accuracy under 60%
    metric: metrics.accuracy
    op: "<"
    threshold: 0.6
    support: metrics.accuracy_n
    min_support: 20
    level: 1
    interventions: [fewshot]
""")
    rules = load_rules(path)
    assert len(rules) == len(RULES) + 1
    result = diagnose(*facts(errors_block(20, omission=7, format_mismatch=13), accuracy=0.5), rules)
    assert {"omission", "low_accuracy"} <= {f["rule"] for f in result["findings"]}
    assert "format_mismatch" not in {f["rule"] for f in result["findings"]}
    only = load_rules(write(tmp_path / "only.yaml", "replace: true\nrules:\n  - id: omission\n    signature: s\n"
                                                   "    metric: errors.shares.omission\n    op: '>'\n"
                                                   "    threshold: 0.1\n    level: 1\n"))
    assert [r.id for r in only] == ["omission"]


@pytest.mark.parametrize("text, where", [
    ("rules:\n  - id: omission\n    threshold: high\n", r"rules\.yaml:2: field 'rules\[0\]\.threshold'"),
    ("rules:\n  - id: omission\n  - id: omission\n    interventions: [magic]\n",
     r"rules\.yaml:3: field 'rules\[1\]\.interventions'.*unknown intervention 'magic'"),
    ("rules:\n  - id: new_rule\n    metric: metrics.accuracy\n", r"rules\.yaml:2: field 'rules\[0\]\.signature'"),
    ("rules:\n  - id: omission\n    scope: everywhere\n", r"rules\.yaml:2: field 'rules\[0\]\.scope'"),
    ("rulez: []\n", r"rules\.yaml:1: field 'rules'"),
    ("rules: [\n", r"rules\.yaml:\d+: invalid YAML"),
])
def test_bad_rules_files_name_file_line_and_field(tmp_path, text, where):
    with pytest.raises(RulesFileError, match=where):
        load_rules(write(tmp_path / "rules.yaml", text))


def test_every_default_rule_names_known_interventions_and_a_valid_scope():
    for rule in RULES:
        Rule.model_validate(rule.model_dump())


def test_diagnose_command_on_a_stored_run(tmp_path):
    db = tmp_path / "runs.db"
    samples = [choice_sample(f"q{i}", answer="B") for i in range(12)]
    config = RunConfig(run_id="r1", model="mock/first", suite="fixture", permutations=2)
    with Store(db) as store:
        store.save_run(config)
        store.save_samples("r1", samples)
        asyncio.run(run_eval(config, samples, get_model("mock/first"), store, gen=GenerateConfig(), concurrency=2))
        firsts = {(r.sample_id, r.attempt.order[0]) for r in store.rows("r1")}
    # "first" always answers A: an item keeps its answer only when both orders put the same option first
    expected = sum(len({o for s, o in firsts if s == sample.id}) == 1 for sample in samples) / len(samples)
    result = CliRunner().invoke(app, ["diagnose", "r1", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    robustness = next(f for f in report["findings"] if f["rule"] == "low_robustness")
    assert robustness["value"] == pytest.approx(expected) and expected < 0.85 and robustness["support"] == 12
    assert "vote" in report["plan"]
    table = CliRunner().invoke(app, ["diagnose", "r1", "--db", str(db)])
    assert table.exit_code == 0 and "answers change with the option order" in table.output


# confidence weighting (issue 14) -------------------------------------------------------------------

def test_low_confidence_labels_weigh_less_than_certain_ones():
    # 12 hallucinations, all low-confidence guesses, against 8 certain omissions: by raw shares
    # hallucination would be 60% and omission 40%; weighed, omission leads and hallucination is far below
    result = diagnose(*facts(errors_block(20, low={"hallucination": 12}, hallucination=12, omission=8)))
    rules = {f["rule"] for f in result["findings"]}
    assert "omission" in rules and "hallucination" not in rules
    omission = next(f for f in result["findings"] if f["rule"] == "omission")
    assert omission["value"] == pytest.approx(8 / (8 + 12 * 0.3)) and not omission["to_review"]


def test_a_finding_resting_mostly_on_guesses_is_to_review_not_the_top_finding():
    # 17 of 20 errors are low-confidence hallucination guesses: weighed (5.1 of 8.1) they still cross 60%,
    # but the finding is "to review", ranked after the confident finding and kept out of the plan
    errors = errors_block(20, low={"hallucination": 17}, hallucination=17, format_mismatch=3)
    result = diagnose(*facts(errors))
    by_rule = {f["rule"]: f for f in result["findings"]}
    hallucination, form = by_rule["hallucination"], by_rule["format_mismatch"]
    assert hallucination["to_review"] and hallucination["low_confidence"] == 17 and hallucination["labels"] == 17
    assert not form["to_review"] and form["rank"] == 1 and hallucination["rank"] > form["rank"]
    assert result["plan"] == ["json"]  # retrieval/verify wait until the guesses are checked


def test_bare_wrong_letters_are_a_confident_output_error_finding(tmp_path):
    db = tmp_path / "runs.db"
    samples = [choice_sample(f"q{i}", answer="A") for i in range(12)]
    with Store(db) as store:
        config = RunConfig(run_id="r", model="mock/first", suite="t", generation={"max_tokens": 50})
        store.save_run(config)
        store.save_samples("r", samples)
        model = get_model("mock/position", index=1)
        asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=4))
    # a bare wrong letter is a certain output error: the distribution counts it with full weight
    from medgap.analysis.errors import error_distribution

    with Store(db) as store:
        dist = error_distribution(store, "r")
    assert dist["overall"]["counts"]["output_error"] == 12 and dist["overall"]["low_counts"]["output_error"] == 0
    assert dist["overall"]["weighted_shares"]["output_error"] == 1.0
    result = CliRunner().invoke(app, ["diagnose", "r", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "bare wrong options" in result.output and "to review" not in result.output
    assert "cot" in result.output  # the plan: ask for the reasoning behind the bare letters


def test_the_diagnose_command_shows_a_finding_built_on_guesses_as_to_review(tmp_path):
    from tests.annotate_fixtures import open_item, row_for

    db = tmp_path / "runs.db"
    samples = [open_item(f"o{i}", ["胆总管多发结石", "胰头癌"], dimension="knowledge_qa") for i in range(12)]
    wrong = "胆囊息肉样病变多见于儿童，应首选口服抗生素治疗三个月，并每日饮用大量浓茶以促进息肉排出体外，一般无需手术。"
    details = {"points": ["胆总管多发结石", "胰头癌"], "covered": [False, False],
               "missed": ["胆总管多发结石", "胰头癌"], "recall": 0.0}
    with Store(db) as store:
        store.save_run(RunConfig(run_id="g", model="m", suite="s", generation={"max_tokens": 512}))
        store.save_samples("g", samples)
        store.write_rows([row_for(s, wrong, value=0.0, details=details).model_copy(update={"run_id": "g"})
                          for s in samples])
    result = CliRunner().invoke(app, ["diagnose", "g", "--db", str(db), "--json"])
    found = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
    # every label is a low-confidence guess (an answer at length that covers no point): to review, no plan
    assert found["hallucination"]["to_review"] and found["hallucination"]["low_confidence"] == 12
    assert json.loads(result.stdout)["plan"] == []
    table = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["diagnose", "g", "--db", str(db)])
    assert "to review" in table.output and "12 of 12" in table.output
