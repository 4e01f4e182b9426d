"""Agreement statistics on label tables with known values, consensus rules, and the report over a
stored annotation."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from typer.testing import CliRunner

import medgap.cli.annotate  # registers `annotate` on the app
import medgap.cli.errors  # noqa: F401  (registers `errors`)
from medgap.analysis.agreement import (
    agreement_report,
    fleiss_kappa,
    krippendorff_alpha,
    observed_agreement,
    per_category_agreement,
    prelabel_accuracy,
)
from medgap.analysis.taxonomy import ErrorLabel
from medgap.cli.app import app
from medgap.store import Store
from medgap.store.annotations import AnnotationStore, HumanLabel, resolve
from medgap.web.annotate import prepare
from tests.annotate_fixtures import RUN_ID, build_run

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters,
# 5 categories; P̄ = 0.378, κ = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example with missing
# values: 4 observers x 12 units, α = 0.743.
N = None
KRIPPENDORFF_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def table_from_counts(counts):
    names = ["a", "b", "c", "d", "e"]
    return [[names[j] for j, n in enumerate(row) for _ in range(n)] for row in counts]


def test_fleiss_kappa_matches_the_textbook_example():
    table = table_from_counts(FLEISS_COUNTS)
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    assert observed_agreement(table) == pytest.approx(0.378, abs=5e-4)


def test_fleiss_kappa_does_not_depend_on_which_rater_gave_which_label():
    table = table_from_counts(FLEISS_COUNTS)
    shuffled = [list(np.random.default_rng(i).permutation(row)) for i, row in enumerate(table)]
    assert fleiss_kappa(shuffled) == pytest.approx(fleiss_kappa(table))


def test_krippendorff_alpha_matches_the_textbook_example_with_missing_labels():
    units = [list(unit) for unit in zip(*KRIPPENDORFF_OBSERVERS, strict=True)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_on_category_keys_equals_the_library_on_codes():
    table = [
        ["omission", "omission", "hallucination"],
        ["unanswered", "unanswered", "unanswered"],
        ["hallucination", None, "hallucination"],
        ["output_error", "omission", "output_error"],
    ]
    codes = {"omission": 0, "hallucination": 1, "unanswered": 2, "output_error": 3}
    data = np.array([[np.nan if c is None else codes[c] for c in row] for row in table]).T
    assert krippendorff_alpha(table) == pytest.approx(
        krippendorff.alpha(data, level_of_measurement="nominal")
    )


def test_per_category_kappas_average_to_the_overall_kappa():
    """Fleiss (1971): κ = Σ p_j q_j κ_j / Σ p_j q_j."""
    table = table_from_counts(FLEISS_COUNTS)
    per = per_category_agreement(table)
    p = np.array(FLEISS_COUNTS).sum(axis=0) / (10 * 14)
    weighted = sum(p[j] * (1 - p[j]) * per[c]["kappa"] for j, c in enumerate("abcde")) / sum(p * (1 - p))
    assert weighted == pytest.approx(fleiss_kappa(table))
    assert per["a"]["labels"] == 20


def test_specific_agreement_by_hand():
    table = [["x", "x", "x"], ["x", "x", "y"], ["y", "y", "y"]]
    per = per_category_agreement(table)
    assert per["x"]["specific_agreement"] == pytest.approx((3 * 2 + 2 * 1) / (5 * 2))
    assert per["y"]["specific_agreement"] == pytest.approx((1 * 0 + 3 * 2) / (4 * 2))


def test_perfect_and_undefined_agreement():
    perfect = [["x", "x", "x"], ["y", "y", "y"], ["x", "x", "x"]]
    assert fleiss_kappa(perfect) == pytest.approx(1.0)
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    one_category = [["x", "x", "x"], ["x", "x", "x"]]
    assert fleiss_kappa(one_category) is None and krippendorff_alpha(one_category) is None
    assert fleiss_kappa([]) is None and krippendorff_alpha([]) is None
    assert fleiss_kappa([["x", None, "y"]]) is None  # no item labelled by every rater


def test_prelabel_accuracy_against_consensus():
    pre = {
        ("a", 0): ErrorLabel(category="omission", confidence="high"),
        ("b", 0): ErrorLabel(category="hallucination", confidence="low"),
        ("c", 0): ErrorLabel(category="hallucination", confidence="low"),
        ("d", 0): ErrorLabel(category="unanswered", confidence="high"),
    }
    consensus = {
        key: ErrorLabel(category=cat, source="consensus")
        for key, cat in [
            (("a", 0), "omission"),
            (("b", 0), "causal_reasoning_deficiency"),
            (("c", 0), "hallucination"),
        ]
    }
    result = prelabel_accuracy(pre, consensus)
    assert (result["n"], result["correct"], result["accuracy"]) == (3, 2, pytest.approx(2 / 3))
    assert result["by_confidence"]["low"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert result["by_category"]["hallucination"]["accuracy"] == 0.5


# ------------------------------------------------------------------------------------ consensus
def lab(category, *secondary):
    return HumanLabel(category=category, secondary=list(secondary))


def test_consensus_is_a_strict_majority_and_otherwise_waits_for_the_adjudicator():
    names = ["a1", "a2", "a3"]
    assert resolve({"a1": lab("omission"), "a2": lab("omission")}, names).status == "pending"
    agreed = resolve(
        {
            "a1": lab("omission", "hallucination"),
            "a2": lab("omission", "hallucination"),
            "a3": lab("hallucination"),
        },
        names,
    )
    assert (agreed.status, agreed.consensus, agreed.secondary) == ("agreed", "omission", ["hallucination"])
    split = {"a1": lab("omission"), "a2": lab("hallucination"), "a3": lab("unanswered")}
    assert resolve(split, names).status == "needs_adjudication"
    decided = resolve(split, names, lab("hallucination"))
    assert (decided.status, decided.consensus) == ("adjudicated", "hallucination")
    four = ["a1", "a2", "a3", "a4"]
    tie = {"a1": lab("omission"), "a2": lab("omission"), "a3": lab("unanswered"), "a4": lab("unanswered")}
    assert resolve(tie, four).status == "needs_adjudication"


def test_agreement_report_over_a_stored_annotation(tmp_path):
    db = build_run(tmp_path / "runs.db")
    chosen = [  # items k1 k2 k3 o1 k5 o2; annotator1..3
        ["output_error", "output_error", "causal_reasoning_deficiency"],  # a bare wrong letter
        ["unanswered", "unanswered", "unanswered"],
        ["hallucination", "contextual_inconsistency", "format_mismatch"],
        ["omission", "omission", "omission"],
        ["omission", "omission", "hallucination"],
        ["unanswered", "unanswered", None],  # an empty reply
    ]
    with Store(db) as store:
        prepare(store, RUN_ID)
        notes = AnnotationStore(store)
        items = notes.items(RUN_ID)
        for key, row in zip(items, chosen, strict=True):
            for i, cat in enumerate(row, start=1):
                if cat:
                    notes.set_label(RUN_ID, key, f"annotator{i}", HumanLabel(category=cat))
        report = agreement_report(store, RUN_ID)
    complete = [row for row in chosen if None not in row]
    assert report["complete"] == 5 and report["items"] == 6
    assert report["fleiss_kappa"] == pytest.approx(fleiss_kappa(complete))
    assert report["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(chosen))
    assert report["status"] == {"agreed": 4, "needs_adjudication": 1, "pending": 1}
    # pre-labels: k1 output_error ✓, k2 unanswered ✓, o1 omission ✓, k5 omission ✓ (k3 has no consensus)
    assert (report["prelabel"]["n"], report["prelabel"]["correct"]) == (4, 4)
    assert report["per_category"]["unanswered"]["specific_agreement"] == 1.0

    result = CliRunner().invoke(app, ["errors", RUN_ID, "--db", str(db), "--agreement", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["agreement"]
    assert shown["fleiss_kappa"] == pytest.approx(report["fleiss_kappa"])
    table = CliRunner().invoke(app, ["errors", RUN_ID, "--db", str(db), "--agreement"])
    assert "Fleiss' κ" in table.stdout and "Krippendorff's α" in table.stdout
