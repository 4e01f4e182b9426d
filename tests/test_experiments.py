"""Paired comparisons: the statistics match scipy/statsmodels and hand-computed answers, pairs are
formed as documented, and `medgap experiment` runs both arms on the same items and orders."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from rich.cells import cell_len
from scipy.stats import wilcoxon
from statsmodels.stats.contingency_tables import mcnemar
from typer.testing import CliRunner

from medgap.analysis.experiments import (
    NoSharedItems,
    compare_rows,
    mcnemar_exact,
    paired_bootstrap_ci,
    wilcoxon_p,
)
from medgap.analysis.metrics import summarize_run
from medgap.analysis.stats import BOOTSTRAP_RESAMPLES
from medgap.cli import load_commands
from medgap.models import GenerateConfig, get_model
from medgap.records import Attempt, Response, Row, RunConfig, Score
from medgap.runner import run_eval
from medgap.store import Store
from tests.helpers import choice_sample

app = load_commands()
RESULT_KEYS = {"a", "b", "diff", "ci_low", "ci_high", "p_value", "test", "a_only", "b_only", "n", "items"}


def choice_row(run: str, item: str, correct: bool, permutation: int = 0, dimension: str = "knowledge_qa") -> Row:
    return Row(run_id=run, sample_id=item, permutation=permutation, task="t", dimension=dimension, kind="single",
               attempt=Attempt(sample_id=item, permutation=permutation, gold_letters=["A"]),
               response=Response(text="答案：A" if correct else "答案：B"),
               score=Score(extracted="A" if correct else "B", value=1.0 if correct else 0.0))


def open_row(run: str, item: str, recall: float) -> Row:
    return Row(run_id=run, sample_id=item, permutation=0, task="o", dimension="complex_reasoning", kind="open",
               attempt=Attempt(sample_id=item), response=Response(text="…"),
               score=Score(value=recall, details={"recall": recall, "rouge_l": recall / 2}))


def table_rows(both: int, a_only: int, b_only: int, neither: int, dimension: str = "knowledge_qa"):
    outcomes = [(1, 1)] * both + [(1, 0)] * a_only + [(0, 1)] * b_only + [(0, 0)] * neither
    rows_a = [choice_row("A", f"q{i}", bool(a), dimension=dimension) for i, (a, _) in enumerate(outcomes)]
    rows_b = [choice_row("B", f"q{i}", bool(b), dimension=dimension) for i, (_, b) in enumerate(outcomes)]
    return rows_a, rows_b


# ------------------------------------------------------------------------------------------ statistics

def test_exact_mcnemar_matches_statsmodels_and_the_binomial_by_hand():
    # discordant 1 vs 6: two-sided binomial 2 * P(X <= 1 | n=7, p=1/2) = 2 * 8/128
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact(1, 6) == pytest.approx(mcnemar([[10, 1], [6, 5]], exact=True).pvalue)
    assert mcnemar_exact(0, 8) == pytest.approx(2 / 256)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_wilcoxon_matches_scipy_on_a_textbook_example():
    # 15 paired differences with no ties (scipy's documented example): exact two-sided p = 0.04126
    d = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], dtype=float)
    assert wilcoxon_p(d) == pytest.approx(0.041259765625)
    assert wilcoxon_p(d) == pytest.approx(wilcoxon(d).pvalue)
    assert wilcoxon_p(np.zeros(5)) == 1.0


def test_paired_bootstrap_resamples_items_not_rows():
    rng = np.random.default_rng(7)
    a, b = rng.random(30), rng.random(30)
    clusters = [f"i{k // 3}" for k in range(30)]  # 10 items, 3 orders each
    low, high = paired_bootstrap_ci(a, b, clusters, seed=3)
    # the same resampling written out item by item
    names = sorted(set(clusters))
    draws = np.random.default_rng(3).integers(0, len(names), size=(BOOTSTRAP_RESAMPLES, len(names)))
    diffs = []
    for draw in draws:
        picked = [k for n in draw for k in range(30) if clusters[k] == names[n]]
        diffs.append(float((b[picked] - a[picked]).mean()))
    assert (low, high) == pytest.approx((np.quantile(diffs, 0.025), np.quantile(diffs, 0.975)))
    assert low < float((b - a).mean()) < high
    assert paired_bootstrap_ci(np.zeros(4), np.ones(4), ["x", "x", "y", "y"]) == (1.0, 1.0)


# ------------------------------------------------------------------------------------------ pairing

def test_accuracy_comparison_on_a_known_table():
    rows_a, rows_b = table_rows(both=10, a_only=1, b_only=6, neither=5)
    result = compare_rows(rows_a, rows_b)
    acc = result["overall"]["accuracy"]
    assert set(acc) == RESULT_KEYS
    assert (acc["a"], acc["b"]) == pytest.approx((11 / 22, 16 / 22))
    assert acc["diff"] == pytest.approx(5 / 22)
    assert (acc["a_only"], acc["b_only"], acc["n"]) == (1, 6, 22)
    assert acc["p_value"] == pytest.approx(0.125) and acc["test"] == "mcnemar_exact"
    assert acc["ci_low"] <= acc["diff"] <= acc["ci_high"]
    assert result["dimensions"]["knowledge_qa"]["accuracy"] == acc


def test_accuracy_pairs_by_item_and_permutation():
    rows_a = [choice_row("A", f"q{i}", True, p) for i in range(4) for p in (0, 1)]
    rows_b = [choice_row("B", f"q{i}", p == 0, p) for i in range(4) for p in (0, 1)]  # wrong under order 1 only
    acc = compare_rows(rows_a, rows_b)["overall"]["accuracy"]
    assert (acc["n"], acc["items"], acc["a_only"], acc["b_only"]) == (8, 4, 4, 0)
    assert acc["diff"] == pytest.approx(-0.5) and acc["ci_low"] == acc["ci_high"] == pytest.approx(-0.5)


def test_recall_pairs_by_item_with_a_wilcoxon_test():
    a = [0.2, 0.5, 0.5, 0.1, 0.9, 0.4, 0.6, 0.3]
    b = [0.6, 0.5, 0.9, 0.4, 0.8, 0.7, 1.0, 0.7]
    result = compare_rows([open_row("A", f"o{i}", v) for i, v in enumerate(a)],
                          [open_row("B", f"o{i}", v) for i, v in enumerate(b)])
    recall = result["dimensions"]["complex_reasoning"]["macro_recall"]
    differences = np.array(b) - np.array(a)
    assert recall["test"] == "wilcoxon"
    assert recall["p_value"] == pytest.approx(wilcoxon(differences).pvalue)
    assert (recall["a_only"], recall["b_only"], recall["n"]) == (1, 6, 8)
    assert recall["diff"] == pytest.approx(differences.mean())
    assert result["overall"]["rouge_l"]["diff"] == pytest.approx(differences.mean() / 2)
    assert "accuracy" not in result["overall"]


def test_every_dimension_gets_its_own_comparison():
    knowledge = table_rows(5, 0, 3, 0, "knowledge_qa")
    safety = table_rows(2, 4, 0, 1, "safety_ethics")
    safety = ([r.model_copy(update={"sample_id": "s" + r.sample_id}) for r in safety[0]],
              [r.model_copy(update={"sample_id": "s" + r.sample_id}) for r in safety[1]])
    result = compare_rows(knowledge[0] + safety[0], knowledge[1] + safety[1])
    assert list(result["dimensions"]) == ["knowledge_qa", "safety_ethics"]
    assert result["dimensions"]["safety_ethics"]["accuracy"]["p_value"] == pytest.approx(mcnemar_exact(4, 0))
    assert (result["overall"]["accuracy"]["a_only"], result["overall"]["accuracy"]["b_only"]) == (4, 3)


def test_runs_without_shared_items_are_refused():
    with pytest.raises(NoSharedItems, match="no items in common"):
        compare_rows([choice_row("A", "x1", True)], [choice_row("B", "y1", True)])


def test_items_whose_question_changed_are_left_out_with_a_warning():
    rows_a, rows_b = table_rows(3, 0, 0, 0)
    samples_a = [choice_sample(f"q{i}") for i in range(3)]
    samples_b = [s.model_copy(update={"question": "改过的题目"}) if s.id == "q0" else s for s in samples_a]
    result = compare_rows(rows_a, rows_b, samples_a=samples_a, samples_b=samples_b)
    assert result["items"] == 2 and "different question texts" in result["warnings"][0]


# ------------------------------------------------------------------------------------------ commands

def store_run(db, run_id, samples, model="mock/first", permutations=1):
    config = RunConfig(run_id=run_id, model=model, suite="fixture", permutations=permutations)
    with Store(db) as store:
        store.save_run(config)
        store.save_samples(run_id, samples)
        asyncio.run(run_eval(config, samples, get_model(model), store, gen=GenerateConfig(), concurrency=4))


def test_compare_command_json_and_refusal(tmp_path):
    db = tmp_path / "runs.db"
    samples = [choice_sample(f"q{i}", answer="ABCD"[i % 4], dimension="safety_ethics") for i in range(8)]
    store_run(db, "first", samples, "mock/first")
    store_run(db, "oracle", samples, "mock/oracle")
    store_run(db, "other", [choice_sample("z1")], "mock/oracle")
    result = CliRunner().invoke(app, ["compare", "first", "oracle", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    acc = data["dimensions"]["safety_ethics"]["accuracy"]
    assert (acc["a"], acc["b"], acc["a_only"], acc["b_only"]) == (0.25, 1.0, 0, 6)
    assert acc["p_value"] == pytest.approx(mcnemar_exact(0, 6)) and data["overall"]["accuracy"] == acc
    table = CliRunner().invoke(app, ["compare", "first", "oracle", "--db", str(db)])
    assert table.exit_code == 0 and "0/6" in table.output
    # fits an 80-column terminal whole: no cell cut short
    assert "…" not in table.output and max(cell_len(line) for line in table.output.splitlines()) <= 80
    refused = CliRunner().invoke(app, ["compare", "first", "other", "--db", str(db)])
    assert refused.exit_code == 1 and "no items in common" in " ".join(refused.output.split())


def test_experiment_runs_both_arms_on_the_same_items_orders_and_seed(tmp_path):
    data = tmp_path / "anatomy.csv"
    rows = [f"{i},题目{i}？,甲{i},乙{i},丙{i},丁{i},{'ABCD'[i % 4]}" for i in range(6)]
    data.write_text(",Question,A,B,C,D,Answer\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db = tmp_path / "runs.db"
    args = ["experiment", "-m", "mock/first", "--suite", str(data), "--treatment", "vote", "--run-id", "exp",
            "--db", str(db), "--seed", "3", "--json", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    with Store(db) as store:
        base, treat = store.run_config("exp-baseline"), store.run_config("exp-treatment")
        assert (base.interventions, treat.interventions) == ([], ["vote"])
        assert base.permutations == treat.permutations == 5 and base.seed == treat.seed == 3
        orders = {run: {(r.sample_id, r.permutation): r.attempt.order for r in store.rows(run)}
                  for run in ("exp-baseline", "exp-treatment")}
        assert orders["exp-baseline"] == orders["exp-treatment"] and len(orders["exp-baseline"]) == 30
        accuracy = summarize_run(store, "exp-baseline").overall.value("accuracy")
    assert report["run_a"] == "exp-baseline" and report["items"] == 6
    assert report["overall"]["accuracy"]["a"] == pytest.approx(accuracy)
    assert {"accuracy", "voted_accuracy", "robustness"} <= set(report["overall"])
    again = CliRunner().invoke(app, args)  # resumes: nothing left to ask, same report
    assert again.exit_code == 0 and json.loads(again.stdout)["overall"] == report["overall"]
    clash = CliRunner().invoke(app, [*args[:6], "cot", *args[7:]])
    assert clash.exit_code == 1 and "choose another --run-id" in " ".join(clash.output.split())


def test_run_and_experiment_arms_are_prepared_and_stored_alike(tmp_path, monkeypatch):
    """`medgap run` and each arm of `medgap experiment` build their runs through `prepare_run`: with the
    same options, a run and the arm with its interventions ask the same way and store the same config
    (but for the run id, the creation time and the experiment's record)."""
    import medgap.cli.experiment
    import medgap.cli.run
    from medgap.evaluate import prepare_run

    prepared = []

    def spy(*args, **kwargs):
        prepared.append(prepare_run(*args, **kwargs))
        return prepared[-1]

    monkeypatch.setattr(medgap.cli.run, "prepare_run", spy)
    monkeypatch.setattr(medgap.cli.experiment, "prepare_run", spy)
    data = tmp_path / "anatomy.csv"
    rows = [f"{i},题目{i}？,甲{i},乙{i},丙{i},丁{i},{'ABCD'[i % 4]}" for i in range(5)]
    data.write_text(",Question,A,B,C,D,Answer\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db = str(tmp_path / "runs.db")
    shared = ["-m", "mock/first", "--suite", str(data), "--db", db, "--seed", "3", "-k", "2", "--limit", "4",
              "--temperature", "0.3", "--max-tokens", "64", "-c", "3", "--max-failures", "7", "-q"]
    alone = CliRunner().invoke(app, ["run", *shared, "--run-id", "alone", "-i", "cot,checklist"])
    assert alone.exit_code == 0, alone.output
    both = CliRunner().invoke(app, ["experiment", *shared, "--run-id", "exp", "--treatment", "cot,checklist"])
    assert both.exit_code == 0, both.output
    assert [p.config.run_id for p in prepared] == ["alone", "exp-baseline", "exp-treatment"]
    run, baseline, treatment = prepared
    assert run.options == baseline.options == treatment.options
    assert run.gen == baseline.gen == treatment.gen and run.gen.temperature == 0.3 and run.gen.max_tokens == 64
    assert [type(s) for s in run.chain] == [type(s) for s in treatment.chain] != [type(s) for s in baseline.chain]

    def kept(config: RunConfig) -> dict:
        data = config.model_dump(exclude={"run_id", "created"})
        data["extra"].pop("experiment", None)
        return data

    with Store(db) as store:
        stored = {run_id: store.run_config(run_id) for run_id in ("alone", "exp-baseline", "exp-treatment")}
        assert store.samples("alone") == store.samples("exp-treatment")
    assert kept(stored["alone"]) == kept(stored["exp-treatment"])
    assert stored["exp-treatment"].extra["experiment"]["arm"] == "treatment"
    assert stored["alone"].answer_settings == stored["exp-baseline"].answer_settings
    assert stored["alone"].generation == stored["exp-baseline"].generation
    assert (stored["alone"].permutations, stored["alone"].limit) == (2, 4)


def ordered_row(run: str, item: str, permutation: int, chosen_content: str) -> Row:
    """A 4-option row asked under a rotated order; the gold content is the original option A."""
    order = ["ABCD", "BCDA", "CDAB", "DABC", "ACBD"][permutation]
    asked = "ABCD"[order.index(chosen_content)]
    gold = "ABCD"[order.index("A")]
    return Row(run_id=run, sample_id=item, permutation=permutation, task="t", dimension="safety_ethics",
               kind="single", attempt=Attempt(sample_id=item, permutation=permutation, order=list(order),
                                              options={letter: letter for letter in "ABCD"}, gold_letters=[gold]),
               response=Response(text=f"答案：{asked}"),
               score=Score(extracted=asked, value=float(asked == gold)))


def test_a_voting_run_is_compared_by_its_one_answer_per_item():
    """`--treatment vote`: the baseline's original-order answer against the treatment's vote."""
    choices = {"q1": "BAAAA", "q2": "ACCCC", "q3": "AAAAA"}  # chosen content under orders 0..4
    rows = [ordered_row("R", item, p, content[p]) for item, content in choices.items() for p in range(5)]
    result = compare_rows(rows, rows, votes=(False, True))["overall"]["answer_accuracy"]
    assert (result["a"], result["b"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert (result["a_only"], result["b_only"]) == (1, 1)  # q2 right only unvoted, q1 right only voted
    assert "answer_accuracy" not in compare_rows(rows, rows)["overall"]
