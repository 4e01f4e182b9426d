"""Per-row scoring: one scorer per item kind, registered in SCORERS."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from medgap.records import Attempt, Response, Sample, Score

Scorer = Callable[[Sample, Attempt, Response], Score]


@cache
def _scorers() -> dict[str, Scorer]:
    from medgap.scoring.choice import score_choice
    from medgap.scoring.extraction import score_extraction
    from medgap.scoring.fill import score_fill
    from medgap.scoring.open import score_open
    from medgap.scoring.record import score_record

    return {"single": score_choice, "multi": score_choice, "extraction": score_extraction, "record": score_record,
            "open": score_open, "fill": score_fill}


async def score_with(sample: Sample, attempt: Attempt, response: Response, matcher=None) -> Score:
    """Like `score`, with a key-point matcher chosen by `--match` (embedding, judge) for the kinds
    scored by key points; the judge is a model call, hence async."""
    if matcher is None or response.error is not None or sample.kind not in ("open", "record"):
        return score(sample, attempt, response)
    if sample.kind == "open":
        from medgap.scoring.open import score_open_async

        return await score_open_async(sample, attempt, response, matcher)
    from medgap.scoring.record import score_record_async

    return await score_record_async(sample, attempt, response, matcher)


def score(sample: Sample, attempt: Attempt, response: Response) -> Score:
    """Score one answered attempt. Errored calls are not scored (value None, retried on resume)."""
    if response.error is not None:
        return Score(details={"error": True})
    scorer = _scorers().get(sample.kind)
    if scorer is None:
        return Score(details={"unscored": f"no scorer for kind {sample.kind!r}"})
    return scorer(sample, attempt, response)
