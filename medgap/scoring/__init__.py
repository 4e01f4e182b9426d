"""Per-row scoring: each item kind's scorer, as its `KindSpec` declares it (`medgap/kinds/`)."""

from __future__ import annotations

from medgap.records import Attempt, Response, Sample, Score

# How open answers meet their key points (`--match`; `medgap.scoring.matching` implements them). Named
# here so that checking a run's options does not load the matchers.
MATCH_METHODS = ("medical", "lexical", "embedding", "judge")
DEFAULT_MATCH = "medical"


async def score_with(sample: Sample, attempt: Attempt, response: Response, matcher=None) -> Score:
    """Like `score`, with a key-point matcher chosen by `--match` (embedding, judge) for the kinds
    that declare a matcher scorer; the judge is a model call, hence async."""
    from medgap.kinds import spec_for

    matcher_scorer = spec_for(sample.kind).matcher_scorer
    if matcher is None or response.error is not None or matcher_scorer is None:
        return score(sample, attempt, response)
    return await matcher_scorer(sample, attempt, response, matcher)


def score(sample: Sample, attempt: Attempt, response: Response) -> Score:
    """Score one answered attempt. Errored calls are not scored (value None, retried on resume)."""
    from medgap.kinds import spec_for

    if response.error is not None:
        return Score(details={"error": True})
    return spec_for(sample.kind).scorer(sample, attempt, response)
