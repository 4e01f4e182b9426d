"""Scoring of single- and multi-answer choice items."""

from __future__ import annotations

from medgap.records import Attempt, Response, Sample, Score
from medgap.scoring.choice_answer import extract_choice


def chosen_letters(attempt: Attempt, response: Response, multi: bool) -> str | None:
    """The asked letters the response commits to. Log-probability answers pick the likeliest letter."""
    if response.logprobs and not multi:
        scored = {letter: lp for letter, lp in response.logprobs.items() if letter in attempt.options}
        if scored:
            return max(scored, key=scored.__getitem__)
    return extract_choice(response.text, attempt.options, multi=multi)


def logprob_margin(attempt: Attempt, response: Response) -> float | None:
    """How far, in nats, the chosen letter's log-probability is above the runner-up's: how close the
    call was (a near tie can flip with the numerics of another build or machine). None unless the
    answer was read from the log-probabilities of at least two of the asked letters."""
    scored = sorted((lp for letter, lp in (response.logprobs or {}).items() if letter in attempt.options), reverse=True)
    return scored[0] - scored[1] if len(scored) >= 2 else None


def score_choice(sample: Sample, attempt: Attempt, response: Response) -> Score:
    multi = sample.kind == "multi"
    extracted = chosen_letters(attempt, response, multi)
    margin = None if multi else logprob_margin(attempt, response)
    details = {} if margin is None else {"logprob_margin": margin}
    if attempt.gold_letters is None:
        return Score(extracted=extracted, value=None, details={"ungraded": True, **details})
    gold, chosen = set(attempt.gold_letters), set(extracted or "")
    tp = len(gold & chosen)
    details.update({"tp": tp, "fp": len(chosen - gold), "fn": len(gold - chosen)})
    return Score(extracted=extracted, value=1.0 if chosen == gold else 0.0, details=details)
