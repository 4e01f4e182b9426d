"""Option orders for robustness runs: the original order plus K-1 distinct shuffles, drawn
deterministically from the item id and the run seed."""

from __future__ import annotations

import hashlib
import itertools
import math
import random

from medgap.records import Attempt, Sample


def option_orders(sample: Sample, k: int, seed: int) -> list[list[str]]:
    """Orders (lists of original letters) to ask `sample` under; orders[0] is the original.

    Orders the source already gives (MedBench robustness files) are used as given. With fewer
    distinct orders than `k` (two options allow only two), every distinct order is used once.
    """
    if sample.given_orders:
        return [list(order) for order in sample.given_orders]
    original = list(sample.options)
    if k <= 1 or len(original) < 2:
        return [original]
    wanted = min(k, math.factorial(len(original)))
    if wanted == math.factorial(len(original)) and wanted <= 24:
        rest = [list(p) for p in itertools.permutations(original) if list(p) != original]
        rng = random.Random(_seed_for(sample.id, seed))
        rng.shuffle(rest)
        return [original, *rest[: wanted - 1]]
    rng = random.Random(_seed_for(sample.id, seed))
    orders, seen = [original], {tuple(original)}
    while len(orders) < wanted:
        shuffled = original[:]
        rng.shuffle(shuffled)
        if tuple(shuffled) not in seen:
            seen.add(tuple(shuffled))
            orders.append(shuffled)
    return orders


def _seed_for(sample_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "big")


def make_attempt(sample: Sample, permutation: int, order: list[str]) -> Attempt:
    """Relabel the options in `order` as A, B, C… and remap the gold letters to match."""
    if not sample.is_choice:
        return Attempt(sample_id=sample.id, permutation=permutation)
    asked_letters = [chr(ord("A") + i) for i in range(len(order))]
    options = {asked: sample.options[original] for asked, original in zip(asked_letters, order, strict=True)}
    to_asked = {original: asked for asked, original in zip(asked_letters, order, strict=True)}
    gold = sample.gold.letters if sample.gold is not None else None
    gold_asked = sorted(to_asked[letter] for letter in gold) if gold else None
    return Attempt(
        sample_id=sample.id, permutation=permutation, order=list(order), options=options, gold_letters=gold_asked
    )


def to_original(letters: str | None, order: list[str]) -> str | None:
    """Map asked letters back to the original letters (the option *content*), sorted."""
    if letters is None:
        return None
    return "".join(sorted(order[ord(letter) - ord("A")] for letter in letters))


def permutation_shortfall(samples: list[Sample], k: int) -> int:
    """How many choice items have fewer than `k` distinct option orders (two options allow two);
    they are asked under every order they have. Items with orders given by the source are not
    counted: those are used as given."""
    return sum(
        1
        for sample in samples
        if sample.is_choice and not sample.given_orders and math.factorial(len(sample.options)) < k
    )


def attempts_for(sample: Sample, k: int, seed: int) -> list[Attempt]:
    return [make_attempt(sample, i, order) for i, order in enumerate(option_orders(sample, k, seed))]
