"""Level 3 validation by voting.

`self_consistency` (Wang et al., 2023): ask N times at temperature > 0 (each call its own seed) and
keep the answer most samples agree on. Choice items vote on the extracted letters: the plurality
wins, a tie goes to the answer given first, samples with no answer do not vote. Free-text items keep
the medoid: the sample whose character bigrams overlap most with the others' (ties: the longer text,
then the earlier one). The kept sample's text is what gets scored; the row records every vote.

`vote` (permutation voting) is not a per-call step: it asks each choice item under at least five
option orders and reports `voted_accuracy`, the accuracy of the per-item majority over orders
(`medgap.analysis.robustness.vote_by_content`). As an intervention name it sets that up for the run.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from medgap.records import Response
from medgap.scoring.choice import chosen_letters
from medgap.solvers.base import Generate, TaskState
from medgap.solvers.common import GenerateWrapper, ask_on, wants_text_answer, with_total_usage

DEFAULT_SAMPLES = 5
DEFAULT_TEMPERATURE = 0.7
MIN_VOTE_ORDERS = 5


def majority(answers: list[str | None]) -> int | None:
    """Index of the first sample carrying the plurality answer (ties: the answer seen first)."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(i for i, a in enumerate(answers) if a is not None and counts[a] == top)


def bigram_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def medoid(texts: list[str]) -> tuple[int, list[float]]:
    """Index of the text most similar to the others (Jaccard of character bigrams), and each
    text's mean similarity to the others."""
    from medgap.scoring.matching import profile  # jieba and the synonym tables: only runs that vote load them

    grams = [profile(t).bigrams for t in texts]
    n = len(texts)
    means = [
        sum(bigram_overlap(grams[i], grams[j]) for j in range(n) if j != i) / (n - 1) if n > 1 else 1.0
        for i in range(n)
    ]
    best = max(range(n), key=lambda i: (round(means[i], 9), len(texts[i]), -i))
    return best, means


def self_consistency(samples: int = DEFAULT_SAMPLES, temperature: float = DEFAULT_TEMPERATURE) -> GenerateWrapper:
    if samples < 2:
        raise ValueError("self_consistency needs at least 2 samples")

    def wrap(generate: Generate) -> Generate:
        async def vote(state: TaskState) -> TaskState:
            wants_text_answer(state)
            heat = state.config.temperature if state.config.temperature > 0 else temperature
            base_seed = state.config.seed or 0
            sides = await asyncio.gather(
                *(ask_on(state, generate, state.messages, temperature=heat, seed=base_seed + i) for i in range(samples))
            )
            responses: list[Response] = []
            for side in sides:
                assert side.response is not None  # ask_on always sets one
                responses.append(side.response)
            answered = [i for i, r in enumerate(responses) if not r.error]
            note: dict = {"samples": samples, "temperature": heat, "errors": samples - len(answered)}
            if not answered:
                state.response = with_total_usage(responses[0], responses)
                state.notes["self_consistency"] = note
                return state
            chosen = pick(state, [responses[i] for i in answered], note)
            inner = [side.notes for side in sides if side.notes]
            if inner:
                note["sample_notes"] = inner
            state.response = with_total_usage(responses[answered[chosen]].model_copy(update={"logprobs": None}),
                                              responses)
            note["chosen"] = answered[chosen]
            state.notes["self_consistency"] = note
            return state

        return vote

    return wrap


def pick(state: TaskState, responses: list[Response], note: dict) -> int:
    """Index (into `responses`) of the sample to keep; writes the votes into `note`."""
    if state.sample.is_choice:
        multi = state.sample.kind == "multi"
        answers = [chosen_letters(state.attempt, r, multi) or None for r in responses]
        note["answers"] = answers
        note["votes"] = dict(Counter(a for a in answers if a is not None).most_common())
        chosen = majority(answers)
        return 0 if chosen is None else chosen
    chosen, means = medoid([r.text for r in responses])
    note["agreement"] = [round(m, 4) for m in means]
    return chosen
