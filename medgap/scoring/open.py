"""Scoring of open-ended items: key-point recall (MedBench) and ROUGE-L, inline or as a later pass.

A row's Score.details holds everything omission analysis needs:

- `points`, `points_source` (given / derived / override)
- `covered` (list[bool]), `missed` (list[str]), `recall`, `match_method`, `match_scores` — of the
  method in force for the run
- `covered_by` — {method: list[bool]} for every method run on the row (agreement between methods)
- `rouge_l` — ROUGE-L F against the reference (the points joined when the source has no reference)
- `match_errors` — {method: message} for a method that could not decide (a judge that never replied
  validly); when that method is the one in force, `judge_error` is set too and the value is None.

Score.value is the recall. The default (`medical`) matching runs inline in `score()`; embedding and judge matching
run through `score_open_async` (inline, in the runner) or `rescore_run` (a pass over stored rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from medgap.records import Attempt, Response, Row, Sample, Score
from medgap.scoring import DEFAULT_MATCH
from medgap.scoring.keypoints import key_points, key_points_source
from medgap.scoring.matching import Matcher, MatchResult, get_matcher, match_many
from medgap.scoring.rouge import rouge_l


def base_details(sample: Sample, answer: str, points: list[str]) -> dict:
    return {
        "points": points,
        "points_source": key_points_source(sample),
        "rouge_l": rouge_l(answer, sample.gold.reference if sample.gold else ""),
        "covered_by": {},
    }


def apply_match(score: Score, result: MatchResult, primary: bool = True) -> Score:
    """Record `result` on `score`: always under covered_by[method]; when `primary`, also as the
    row's covered/missed/recall/value (a judge that failed leaves value None and a judge_error)."""
    details = score.details
    covered_by = details.setdefault("covered_by", {})
    errors = details.pop("match_errors", {})
    if result.covered is not None:
        covered_by[result.method] = result.covered
        errors.pop(result.method, None)
    else:
        covered_by.pop(result.method, None)
        errors[result.method] = result.error
    if errors:
        details["match_errors"] = errors
    if result.raw and result.method in ("judge", "medical"):  # medical: a judge settled its close calls
        details["judge_replies"] = result.raw
    if not primary:
        return score
    points = details.get("points", [])
    details["match_method"] = result.method
    details["match_scores"] = result.scores
    if result.covered is None:
        details.update(covered=None, missed=None, recall=None, judge_error=result.error)
        score.value = None
        return score
    details.pop("judge_error", None)
    recall = sum(result.covered) / len(points) if points else None
    missed = [p for p, c in zip(points, result.covered, strict=True) if not c]
    details.update(covered=result.covered, missed=missed, recall=recall)
    score.value = recall
    return score


def _prepare(sample: Sample, response: Response) -> tuple[Score | None, list[str], str]:
    points = key_points(sample)
    if not points:
        return Score(value=None, details={"ungraded": True, "points": []}), points, ""
    return None, points, response.text


def score_open(sample: Sample, attempt: Attempt, response: Response, matcher: Matcher | None = None) -> Score:
    """Inline scoring with a synchronous matcher (the default `medical` one unless given). The
    default matcher's decisions are always stored in covered_by so a later judge pass can be
    compared with them."""
    ungraded, points, answer = _prepare(sample, response)
    if ungraded:
        return ungraded
    matcher = matcher or default_matcher()
    score = Score(details=base_details(sample, answer, points))
    if matcher.name != default_matcher().name:
        apply_match(score, default_matcher().match(points, answer, sample), primary=False)
    return apply_match(score, matcher.match(points, answer, sample))


async def score_open_async(sample: Sample, attempt: Attempt, response: Response, matcher: Matcher) -> Score:
    """Inline scoring with any matcher, the judge included (for the runner when --match is not the default)."""
    if response.error is not None:
        return Score(details={"error": True})
    ungraded, points, answer = _prepare(sample, response)
    if ungraded:
        return ungraded
    score = Score(details=base_details(sample, answer, points))
    if matcher.name != default_matcher().name:
        apply_match(score, default_matcher().match(points, answer, sample), primary=False)
    return apply_match(score, await matcher.amatch(points, answer, sample))


@cache
def default_matcher() -> Matcher:
    """The matcher open and record items are scored with unless `--match` names another."""
    return get_matcher(DEFAULT_MATCH)


# re-scoring stored rows -----------------------------------------------------------------------


@dataclass
class RescoreReport:
    run_id: str
    method: str
    rescored: int = 0
    judge_errors: int = 0
    skipped: int = 0  # errored calls, ungraded items
    errors: list[str] = field(default_factory=list)  # "sample_id: message" per judge error


def rescorable(row: Row, samples: dict[str, Sample]) -> bool:
    sample = samples.get(row.sample_id)
    return row.kind == "open" and not row.errored and sample is not None and bool(key_points(sample))


async def rescore_rows(rows: list[Row], samples: dict[str, Sample], matcher: Matcher, *, primary: bool = True,
                       concurrency: int = 4, on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Match `rows` again with `matcher`, updating each row's score in place; returns the rows changed."""
    todo = [r for r in rows if rescorable(r, samples)]
    jobs = []
    for row in todo:
        sample = samples[row.sample_id]
        if "points" not in row.score.details:  # a row stored before open scoring existed
            row.score = score_open(sample, row.attempt, row.response)
        jobs.append((row.score.details["points"], row.response.text, sample))
    matcher.prepare(jobs)
    results = await match_many(matcher, jobs, concurrency=concurrency)
    for row, result in zip(todo, results, strict=True):
        apply_match(row.score, result, primary=primary)
        if on_row:
            on_row(row)
    return todo


async def rescore_run(store, run_id: str, method: str, judge=None, *, primary: bool = True, concurrency: int = 4,
                      on_row: Callable[[Row], None] | None = None, **judge_options) -> RescoreReport:
    """Re-match every open row of a stored run with `method` (`judge` needs `judge`, a Model or a
    `PROVIDER/NAME` spec) and write the rows back. With `primary`, the method becomes the run's
    scoring method (RunConfig.match) and its decisions the rows' recall."""
    matcher = get_matcher(method, judge=judge, **judge_options)
    config = store.run_config(run_id)
    samples = {s.id: s for s in store.samples(run_id)}
    rows = store.rows(run_id)
    try:
        changed = await rescore_rows(rows, samples, matcher, primary=primary, concurrency=concurrency, on_row=on_row)
    finally:
        if method == "judge" and isinstance(judge, str):  # a model we built from a spec is ours to close
            await matcher.model.aclose()  # type: ignore[attr-defined]
    store.write_rows(changed)
    if primary:
        config.match = method
        config.extra["match"] = matcher.describe()
        store.save_run(config)
    skipped = sum(r.kind == "open" for r in rows) - len(changed)
    report = RescoreReport(run_id, method, rescored=len(changed), skipped=skipped)
    for row in changed:
        error = row.score.details.get("match_errors", {}).get(method)
        if error:
            report.judge_errors += 1
            report.errors.append(f"{row.sample_id}: {error}")
    return report


async def rescore_with_judge(store, run_id: str, judge, **options) -> RescoreReport:
    """`rescore_run(store, run_id, "judge", judge)`: the judge becomes the run's scoring method."""
    return await rescore_run(store, run_id, "judge", judge, **options)
