"""Scoring of single- and multi-answer choice items."""

from __future__ import annotations

from medgap.records import Attempt, Response, Sample, Score
from medgap.scoring.extract import extract_choice


def chosen_letters(attempt: Attempt, response: Response, multi: bool) -> str | None:
    """The asked letters the response commits to. Log-probability answers pick the likeliest letter."""
    if response.logprobs and not multi:
        scored = {letter: lp for letter, lp in response.logprobs.items() if letter in attempt.options}
        if scored:
            return max(scored, key=scored.__getitem__)
    return extract_choice(response.text, attempt.options, multi=multi)


def score_choice(sample: Sample, attempt: Attempt, response: Response) -> Score:
    multi = sample.kind == "multi"
    extracted = chosen_letters(attempt, response, multi)
    if attempt.gold_letters is None:
        return Score(extracted=extracted, value=None, details={"ungraded": True})
    gold, chosen = set(attempt.gold_letters), set(extracted or "")
    tp = len(gold & chosen)
    details = {"tp": tp, "fp": len(chosen - gold), "fn": len(gold - chosen)}
    return Score(extracted=extracted, value=1.0 if chosen == gold else 0.0, details=details)
