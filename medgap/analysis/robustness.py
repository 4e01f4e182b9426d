"""Robustness of choice answers under shuffled option orders, and voting over those orders.

Every measure compares *option content*, not letters: a row's asked letters are mapped back to
the original letters through the order it was asked in (`Attempt.order`).

- robustness: share of items whose chosen content is the same under every order (an unanswered
  order makes the item inconsistent); the MedBench robustness score.
- strict_accuracy: share of items correct under every order (OpenCompass CircularEval "perf").
- positional_bias: how often each asked position is chosen vs how often it holds the gold, a
  chi-square test of the difference, and the share of items where the choice stays on one
  position while the content under it moves.
- voted_accuracy: accuracy of one answer per item, the plurality of the content chosen over its
  orders (ties give no answer).

Robustness and strict accuracy count items asked under at least two distinct orders, and items
whose answer source gave two different answers to one prompt (`Response.alternatives`, replay of a
predictions file that answers a question twice): those are inconsistent, never left out. An item
with an errored row is left out of both; how many were left out and why is reported beside the
figure (`robustness_excluded`, `robustness_excluded_why`: reason -> items).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, Field

from medgap.analysis.distributions import chi2_sf
from medgap.analysis.stats import proportion_ci
from medgap.kinds.base import Estimate
from medgap.records import CHOICE_KINDS, Row
from medgap.scoring.choice_answer import extract_choice
from medgap.solvers.permutations import to_original


def content_of(row: Row) -> str | None:
    """The original letters (= option content) the row's answer picks, sorted; None if unanswered."""
    if row.errored or row.score.extracted is None:
        return None
    if not row.attempt.order:  # asked in the original order without a recorded order
        return "".join(sorted(row.score.extracted))
    return to_original(row.score.extracted, row.attempt.order)


def gold_content(row: Row) -> str | None:
    """The gold as original letters, or None for ungraded rows."""
    gold = row.attempt.gold_letters
    if not gold:
        return None
    return to_original("".join(gold), row.attempt.order) if row.attempt.order else "".join(sorted(gold))


def rows_by_item(rows: Iterable[Row]) -> dict[str, list[Row]]:
    items: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.kind in CHOICE_KINDS:
            items[row.sample_id].append(row)
    return items


def asked_once(rows: list[Row]) -> bool:
    """Every row in its item's first option order (permutation 0): one row per item, so no item was
    asked under several orders. A cheap test that spares grouping the rows of a plain run."""
    return not any(r.permutation for r in rows)


def asked_under_several_orders(item_rows: list[Row]) -> bool:
    return len({tuple(r.attempt.order) for r in item_rows}) >= 2


def alternative_contents(row: Row) -> set[str | None]:
    """The option content of the other answers the row's source gave to the same prompt."""
    multi = row.kind == "multi"
    found = set()
    for text in row.response.alternatives:
        letters = extract_choice(text, row.attempt.options, multi=multi)
        found.add(to_original(letters, row.attempt.order) if row.attempt.order and letters else letters)
    return found


def comparable_items(rows: list[Row]) -> tuple[dict[str, list[Row]], Counter[str]]:
    """Items asked under ≥2 orders, or answered twice differently, with no errored row; and why
    the others of those were left out (reason -> items)."""
    if asked_once(rows) and not any(r.response.alternatives for r in rows):
        return {}, Counter()
    several = {
        item: rs for item, rs in rows_by_item(rows).items()
        if asked_under_several_orders(rs) or any(r.response.alternatives for r in rs)
    }
    clean = {item: rs for item, rs in several.items() if not any(r.errored for r in rs)}
    why = Counter(exclusion_reason(rs) for item, rs in several.items() if item not in clean)
    return clean, why


def exclusion_reason(item_rows: list[Row]) -> str:
    """Why an item is left out: its first failed request's error, without ids, quotes and numbers."""
    error = next(r.response.error for r in item_rows if r.errored) or "failed request"
    error = error.removeprefix("replay: ")
    return re.split(r"""[\d'"(（:：]""", error, maxsplit=1)[0].strip() or "failed request"


def is_consistent(item_rows: list[Row]) -> bool:
    contents = {content_of(r) for r in item_rows}
    for row in item_rows:
        contents |= alternative_contents(row)
    return len(contents) == 1 and None not in contents


def follows_position(item_rows: list[Row]) -> bool:
    """Same asked letters every time while the content under them changed."""
    asked = {r.score.extracted for r in item_rows}
    contents = {content_of(r) for r in item_rows}
    return len(asked) == 1 and None not in asked and len(contents) > 1


def share(hits: int, n: int) -> Estimate | None:
    """A share of independent units with its exact binomial interval; None when there are none."""
    if not n:
        return None
    low, high = proportion_ci(hits, n)
    return Estimate(value=hits / n, n=n, ci_low=low, ci_high=high, count=hits)


def robustness(rows: list[Row]) -> Estimate | None:
    """Share of comparable items answered with the same content under every order."""
    items, _ = comparable_items(rows)
    return share(sum(is_consistent(rs) for rs in items.values()), len(items))


def strict_accuracy(rows: list[Row]) -> Estimate | None:
    """Share of comparable, graded items answered right under every order."""
    items, _ = comparable_items(rows)
    graded = [rs for rs in items.values() if all(r.score.value is not None for r in rs)]
    return share(sum(all(r.score.value == 1.0 for r in rs) for rs in graded), len(graded))


def vote_by_content(rows: Iterable[Row]) -> dict[str, str | None]:
    """One answer per choice item: the option content chosen most often over its orders.

    Errored rows do not vote; an unanswered row votes for "no answer". A tie for the top gives
    None (unanswered), as does a plurality of unanswered rows. Multi-answer items vote on the
    whole set of options chosen.
    """
    voted: dict[str, str | None] = {}
    for item, item_rows in rows_by_item(rows).items():
        ballots = Counter(content_of(r) for r in item_rows if not r.errored)
        if not ballots:
            continue
        (top, top_count), *rest = ballots.most_common()
        voted[item] = None if rest and rest[0][1] == top_count else top
    return voted


def voted_items(rows: list[Row]) -> dict[str, tuple[str | None, str]]:
    """item -> (voted content, gold content) over the items with a gold, once any item was asked under
    several orders (else there is nothing to vote on: {})."""
    if asked_once(rows) or not any(asked_under_several_orders(rs) for rs in rows_by_item(rows).values()):
        return {}
    votes = vote_by_content(rows)
    gold = {r.sample_id: g for r in rows if r.kind in CHOICE_KINDS and (g := gold_content(r)) is not None}
    return {item: (vote, gold[item]) for item, vote in votes.items() if item in gold}


def voted_accuracy(rows: list[Row]) -> Estimate | None:
    """Accuracy of the per-item votes over option orders, over items with a gold answer."""
    voted = voted_items(rows)
    return share(sum(vote == gold for vote, gold in voted.values()), len(voted))


def position_counts(rows: Iterable[Row]) -> tuple[list[int], list[int]]:
    """Per asked position (0 = first): times chosen and times holding the gold, over answered,
    graded single-answer rows (multi-answer picks are sets, not one position)."""
    chosen: Counter[int] = Counter()
    gold: Counter[int] = Counter()
    for row in rows:
        letters, gold_letters = row.score.extracted, row.attempt.gold_letters
        if row.kind != "single" or row.errored or not letters or len(letters) != 1:
            continue
        if not gold_letters or len(gold_letters) != 1:
            continue
        chosen[ord(letters) - ord("A")] += 1
        gold[ord(gold_letters[0]) - ord("A")] += 1
    width = max([*chosen, *gold], default=-1) + 1
    return [chosen[i] for i in range(width)], [gold[i] for i in range(width)]


def position_test(chosen: list[int], gold: list[int]) -> dict:
    """Pearson chi-square test (no continuity correction) that chosen and gold positions follow
    one distribution; positions neither chosen nor holding the gold are left out."""
    used = [i for i in range(len(chosen)) if chosen[i] or gold[i]]
    if len(used) < 2:
        return {"chi2": None, "dof": None, "p_value": None}
    # What scipy.stats.chi2_contingency(correction=False) computes; tests check the two agree.
    observed = [[chosen[i] for i in used], [gold[i] for i in used]]
    row_sums = [sum(row) for row in observed]
    column_sums = [c + g for c, g in zip(*observed, strict=True)]
    total = sum(row_sums)
    statistic = sum((count - row_sums[r] * column_sums[c] / total) ** 2 / (row_sums[r] * column_sums[c] / total)
                    for r, row in enumerate(observed) for c, count in enumerate(row))
    dof = len(used) - 1
    return {"chi2": statistic, "dof": dof, "p_value": chi2_sf(statistic, dof)}


def voted_units(rows: list[Row]) -> dict[tuple[str, int], float]:
    """Experiment units of voted accuracy: per item asked in two orders or more, whether its vote is
    the gold."""
    several = {item: rs for item, rs in rows_by_item(rows).items() if asked_under_several_orders(rs)}
    votes = vote_by_content(r for rs in several.values() for r in rs)
    out = {}
    for item, item_rows in several.items():
        gold = next((g for r in item_rows if (g := gold_content(r)) is not None), None)
        if gold is not None and item in votes:
            out[(item, -1)] = float(votes[item] == gold)
    return out


def consistency_units(rows: list[Row]) -> dict[tuple[str, int], float]:
    """Experiment units of robustness: per comparable item, whether it was answered consistently."""
    items, _ = comparable_items(rows)
    return {(item, -1): float(is_consistent(item_rows)) for item, item_rows in items.items()}


class PositionShare(BaseModel):
    position: int  # 1-based
    letter: str
    chosen: int
    chosen_share: float
    gold: int
    gold_share: float


class PositionalBias(BaseModel):
    """Chosen positions against gold positions (single-answer rows) and answers that stay on one
    position while the content moves."""

    n: int
    positions: list[PositionShare]
    chi2: float | None = None
    dof: int | None = None
    p_value: float | None = None
    follows_position: Estimate | None = None


class RobustnessDetails(BaseModel):
    """What stands beside the robustness figures: items left out and why, items counted
    inconsistent because one prompt got two answers, items whose vote was a tie, positional bias."""

    excluded: int = 0
    excluded_why: dict[str, int] = Field(default_factory=dict)
    answered_twice: int = 0
    voted_unanswered: int | None = None
    positional_bias: PositionalBias | None = None


def positional_bias(rows: list[Row], items: dict[str, list[Row]]) -> PositionalBias:
    chosen, gold = position_counts(rows)
    n = sum(chosen)
    positions = [
        PositionShare(position=i + 1, letter=chr(ord("A") + i), chosen=chosen[i], chosen_share=chosen[i] / n,
                      gold=gold[i], gold_share=gold[i] / n)
        for i in range(len(chosen))
    ]
    follows = share(sum(follows_position(rs) for rs in items.values()), len(items))
    return PositionalBias(n=n, positions=positions, **position_test(chosen, gold), follows_position=follows)


def robustness_details(rows: list[Row]) -> RobustnessDetails | None:
    """None when the rows hold no choice item."""
    if not any(r.kind in CHOICE_KINDS for r in rows):
        return None
    items, excluded = comparable_items(rows)
    voted = voted_items(rows)
    bias = positional_bias(rows, items)
    return RobustnessDetails(
        excluded=sum(excluded.values()), excluded_why=dict(excluded.most_common()),
        answered_twice=sum(any(r.response.alternatives for r in rs) for rs in items.values()),
        voted_unanswered=sum(vote is None for vote, _ in voted.values()) if voted else None,
        positional_bias=bias if bias.n or items else None,
    )
