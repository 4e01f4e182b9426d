"""Robustness under shuffled options: consistency, strict and voted accuracy, positional bias.

Hand-built rows use the cyclic orders ABCD, BCDA, CDAB, DABC, under which every original option
sits once at every position, so the right numbers are known in advance.
"""

import asyncio

import pytest
from rich.console import Console
from scipy.stats import chi2_contingency

from medgap.analysis.diagnosis import metric_facts
from medgap.analysis.metrics import GroupSummary, group_summary, summarize, summarize_run
from medgap.analysis.robustness import vote_by_content
from medgap.cli.tables import results_table
from medgap.models import GenerateConfig, get_model
from medgap.records import Response, Row, RunConfig, Score
from medgap.runner import run_eval
from medgap.solvers.permutations import make_attempt, option_orders, permutation_shortfall
from medgap.store import Store
from tests.helpers import choice_sample

CYCLIC = [list("ABCD"), list("BCDA"), list("CDAB"), list("DABC")]


def row(sample, permutation, order, asked=None, error=False):
    """A stored row for `sample` asked in `order`, answering the asked letters `asked`."""
    attempt = make_attempt(sample, permutation, order)
    if error:
        response, score = Response(error="HTTP 500 after 5 retries"), Score(details={"error": True})
    else:
        extracted = "".join(sorted(asked)) if asked else None
        value = None if attempt.gold_letters is None else float(set(extracted or "") == set(attempt.gold_letters))
        response, score = Response(text=f"答案：{extracted}"), Score(extracted=extracted, value=value)
    return Row(run_id="r", sample_id=sample.id, permutation=permutation, task=sample.task,
               dimension=sample.dimension, kind=sample.kind, attempt=attempt, response=response, score=score)


def by_content(sample, contents, orders=CYCLIC, start=0):
    """Rows whose answers pick the given original letters (None = unanswered, "ERR" = errored)."""
    rows = []
    for permutation, (order, content) in enumerate(zip(orders, contents, strict=False), start=start):
        if content == "ERR":
            rows.append(row(sample, permutation, order, error=True))
            continue
        asked = None if content is None else "".join(chr(ord("A") + order.index(c)) for c in content)
        rows.append(row(sample, permutation, order, asked))
    return rows


def by_position(sample, asked, orders=CYCLIC, start=0):
    return [row(sample, p, order, asked) for p, order in enumerate(orders, start=start)]


def figures(rows: list[Row], samples: dict) -> dict:
    """A group's figures as `medgap diagnose` rules read them (metric, metric_n, ..., details)."""
    return metric_facts(GroupSummary(**group_summary(rows, samples)))


def test_always_first_model_is_never_consistent_and_always_follows_position():
    samples = [choice_sample(f"q{i}", answer="ABCD"[i]) for i in range(4)]
    rows = [r for s in samples for r in by_position(s, "A")]
    out = figures(rows, {})
    assert out["robustness"] == 0.0 and out["robustness_n"] == 4
    assert out["strict_accuracy"] == 0.0
    bias = out["positional_bias"]
    assert [p["chosen_share"] for p in bias["positions"]] == [1.0, 0.0, 0.0, 0.0]
    assert [p["gold_share"] for p in bias["positions"]] == [0.25, 0.25, 0.25, 0.25]
    assert bias["follows_position"]["value"] == 1.0 and bias["follows_position"]["n"] == 4
    assert bias["p_value"] < 0.001
    # every item gets its gold once in four orders: voting over content splits 1-1-1-1
    assert out["voted_accuracy"] == 0.0 and out["voted_unanswered"] == 4


def test_oracle_is_consistent_strictly_correct_and_unbiased():
    samples = [choice_sample(f"q{i}", answer="ABCD"[i]) for i in range(4)]
    rows = [r for s in samples for r in by_content(s, [s.gold.letters[0]] * 4)]
    out = figures(rows, {})
    assert out["robustness"] == 1.0 and out["strict_accuracy"] == 1.0 and out["voted_accuracy"] == 1.0
    bias = out["positional_bias"]
    assert bias["chi2"] == 0.0 and bias["p_value"] == 1.0
    assert bias["follows_position"]["value"] == 0.0


def test_a_flip_on_one_order_breaks_consistency_but_not_the_vote():
    sample = choice_sample("q", answer="B")
    rows = by_content(sample, ["B", "B", "D", "B"])
    out = figures(rows, {})
    assert out["robustness"] == 0.0 and out["strict_accuracy"] == 0.0
    assert out["voted_accuracy"] == 1.0
    assert vote_by_content(rows) == {"q": "B"}


def test_consistently_wrong_is_robust_but_not_strictly_correct():
    sample = choice_sample("q", answer="B")
    out = figures(by_content(sample, ["C"] * 4), {})
    assert out["robustness"] == 1.0 and out["strict_accuracy"] == 0.0 and out["voted_accuracy"] == 0.0


def test_unanswered_in_any_order_is_inconsistent():
    consistent_but_one_refusal = by_content(choice_sample("q1", answer="A"), ["A", "A", None, "A"])
    never_answered = by_content(choice_sample("q2", answer="A"), [None] * 4)
    out = figures(consistent_but_one_refusal + never_answered, {})
    assert out["robustness"] == 0.0 and out["robustness_n"] == 2
    assert out["strict_accuracy"] == 0.0
    assert vote_by_content(consistent_but_one_refusal + never_answered) == {"q1": "A", "q2": None}
    assert out["voted_accuracy"] == 0.5 and out["voted_unanswered"] == 1


def test_multi_answer_same_underlying_set_is_consistent():
    sample = choice_sample("m", answer="AC")
    same_set = by_content(sample, ["AC"] * 4)
    assert {r.score.extracted for r in same_set} != {"AC"}  # the asked letters do move
    out = figures(same_set, {})
    assert out["robustness"] == 1.0 and out["strict_accuracy"] == 1.0 and out["voted_accuracy"] == 1.0
    other = choice_sample("n", answer="AC")
    partly = by_content(other, ["AC", "AC", "A", "AC"])
    out = figures(partly, {})
    assert out["robustness"] == 0.0 and out["voted_accuracy"] == 1.0
    same_letters = by_position(choice_sample("p", answer="AC"), "AB")
    assert figures(same_letters, {})["positional_bias"]["follows_position"]["value"] == 1.0


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        (["A", "A", "B", "B"], None),  # tie for the top
        (["A", "B", "C", "A"], "A"),  # plurality, not strict majority
        (["A", None, None, "B"], None),  # most orders gave no answer
        (["A", "A", None, None], None),  # an answer tied with no answer
        (["A", "ERR", "ERR", "B"], None),  # errored rows do not vote
        (["A", "ERR", "ERR", "A"], "A"),
    ],
)
def test_voting_over_content(contents, expected):
    rows = by_content(choice_sample("q", answer="A"), contents)
    assert vote_by_content(rows) == {"q": expected}


def test_items_with_an_errored_row_are_excluded_and_counted():
    clean = by_content(choice_sample("q1", answer="A"), ["A"] * 4)
    broken = by_content(choice_sample("q2", answer="A"), ["B", "ERR", "B", "B"])
    out = figures(clean + broken, {})
    assert out["robustness"] == 1.0 and out["robustness_n"] == 1 and out["excluded"] == 1
    assert out["strict_accuracy_n"] == 1


def test_single_order_items_do_not_count_for_robustness():
    once = [row(choice_sample(f"q{i}", answer="A"), 0, list("ABCD"), "A") for i in range(3)]
    out = figures(once, {})
    assert "robustness" not in out and "strict_accuracy" not in out and "voted_accuracy" not in out
    assert out["positional_bias"]["n"] == 3 and out["positional_bias"]["follows_position"] is None
    twice = by_position(choice_sample("q9", answer="A"), "A", orders=CYCLIC[:2])
    assert figures(once + twice, {})["robustness_n"] == 1


def test_cis_are_exact_binomial_over_items():
    samples = [choice_sample(f"q{i}", answer="A") for i in range(10)]
    rows = [r for i, s in enumerate(samples) for r in by_content(s, ["A"] * 4 if i < 7 else ["A", "B", "A", "A"])]
    out = figures(rows, {})
    assert out["robustness"] == 0.7 and out["robustness_n"] == 10
    assert out["robustness_ci_low"] == pytest.approx(0.3475, abs=1e-4)  # Clopper-Pearson, 7 of 10
    assert out["robustness_ci_high"] == pytest.approx(0.9333, abs=1e-4)
    assert out["strict_accuracy_ci_low"] == out["robustness_ci_low"]


def test_chi_square_matches_scipy_on_the_position_table():
    samples = [choice_sample(f"q{i}", answer="ABCD"[i % 4]) for i in range(8)]
    # answers lean towards the first position: first in orders 0 and 1, content-true otherwise
    rows = []
    for s in samples:
        rows += by_position(s, "A", orders=CYCLIC[:2])
        rows += by_content(s, s.gold.letters * 2, orders=CYCLIC[2:], start=2)
    bias = figures(rows, {})["positional_bias"]
    chosen = [p["chosen"] for p in bias["positions"]]
    gold = [p["gold"] for p in bias["positions"]]
    expected_chosen = [0, 0, 0, 0]
    expected_gold = [0, 0, 0, 0]
    for r in rows:
        expected_chosen[ord(r.score.extracted) - ord("A")] += 1
        expected_gold[ord(r.attempt.gold_letters[0]) - ord("A")] += 1
    assert chosen == expected_chosen and gold == expected_gold and bias["n"] == 32
    reference = chi2_contingency([chosen, gold], correction=False)
    assert bias["chi2"] == pytest.approx(reference.statistic)
    assert bias["p_value"] == pytest.approx(reference.pvalue)
    assert bias["dof"] == 3


def test_positions_never_used_are_left_out_of_the_test():
    sample = choice_sample("q", answer="A", n_options=5)
    orders = [list("ABCDE"), list("BACDE")]
    bias = figures(by_position(sample, "A", orders=orders), {})["positional_bias"]
    assert [p["chosen"] for p in bias["positions"]] == [2, 0]
    assert bias["dof"] == 1
    assert bias["chi2"] == pytest.approx(chi2_contingency([[2, 0], [1, 1]], correction=False).statistic)


def test_summary_reports_robustness_per_task_dimension_and_overall():
    a = [choice_sample(f"a{i}", answer="A", task="t1") for i in range(2)]
    b = [choice_sample(f"b{i}", answer="A", task="t2", dimension="complex_reasoning") for i in range(2)]
    rows = [r for s in a for r in by_content(s, ["A"] * 4)] + [r for s in b for r in by_position(s, "A")]
    summary = summarize("r", "mock/x", rows, a + b)
    assert summary.overall.value("robustness") == 0.5
    assert summary.tasks["t1"].value("robustness") == 1.0 and summary.tasks["t2"].value("robustness") == 0.0
    assert metric_facts(summary.dimensions["complex_reasoning"])["positional_bias"]["follows_position"]["value"] == 1.0
    assert summary.dimensions["knowledge_qa"].value("strict_accuracy") == 1.0
    console = Console(record=True, width=250)
    console.print(results_table(summary))
    text = console.export_text()
    assert "Robustness" in text and "Strict accuracy" in text and "Voted accuracy" in text
    assert "0.500" in text and "–" in text


def test_shortfall_counts_items_with_too_few_orders():
    samples = [
        choice_sample("two", n_options=2),
        choice_sample("three", n_options=3),
        choice_sample("four", n_options=4),
        choice_sample("given", n_options=2, given_orders=[["A", "B"], ["B", "A"]]),
    ]
    assert permutation_shortfall(samples, 5) == 1  # 2 options: 2 orders; 3 options: 6 orders
    assert permutation_shortfall(samples, 7) == 2
    assert permutation_shortfall(samples, 1) == 0


def test_position_follower_end_to_end(tmp_path):
    samples = [choice_sample(f"q{i}", answer="ABCD"[i % 4]) for i in range(8)]
    config = RunConfig(run_id="pos", model="mock/position?index=0", suite="fixture", permutations=5, seed=3)
    # the content under the first position moves in every item, so following it is never consistent
    assert all(len({o[0] for o in option_orders(s, 5, seed=3)}) > 1 for s in samples)
    with Store(tmp_path / "runs.db") as store:
        store.save_run(config)
        store.save_samples("pos", samples)
        model = get_model("mock/position?index=0")
        asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=4))
        summary = summarize_run(store, "pos")
    overall = metric_facts(summary.overall)
    assert overall["accuracy_n"] == 40
    assert overall["robustness"] == 0.0 and overall["robustness_n"] == 8
    assert overall["strict_accuracy"] == 0.0
    bias = overall["positional_bias"]
    assert bias["positions"][0]["chosen_share"] == 1.0 and bias["n"] == 40
    assert bias["follows_position"]["value"] == 1.0
    assert bias["p_value"] < 0.001
