"""Level 1 `fewshot`: worked examples from a dev split, shown as earlier chat turns before the item.

The pool is a data file or folder of exemplars (default: the 45 CMMLU medical dev rows bundled in
`medgap/datasets/demo/cmmlu/dev/`), never the test items. For each item, exemplars of the same kind
are ranked: same task first (CMMLU: same subject), then same dimension, then the rest, in file order.
An exemplar whose id or whitespace-free question text equals the item's is never shown — the id test
is deliberately broad (CMMLU numbers dev and test rows from 0 alike, so a dev row can share a test
row's id): leaving out a harmless exemplar costs nothing, showing the item itself would.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from medgap.datasets import load_file
from medgap.datasets.suites import PACKAGE_DATA
from medgap.kinds import answer_hints
from medgap.records import Message, Sample
from medgap.solvers import prompts
from medgap.solvers.base import Solver, TaskState
from medgap.solvers.common import prompt_step, question_index

DEFAULT_POOL = PACKAGE_DATA / "demo" / "cmmlu" / "dev"
DEFAULT_SHOTS = 3

_SPACE = re.compile(r"\s+")


@cache
def load_pool(path: str) -> tuple[Sample, ...]:
    """Exemplars with a gold answer from a data file or folder (loaded once per process)."""
    return tuple(sample for sample in load_file(Path(path)) if sample.gold is not None)


def same_question(a: str, b: str) -> bool:
    return _SPACE.sub("", a) == _SPACE.sub("", b)


def is_the_item(candidate: Sample, item: Sample) -> bool:
    return candidate.id == item.id or same_question(candidate.question, item.question)


def pick_exemplars(item: Sample, pool: tuple[Sample, ...], shots: int) -> list[Sample]:
    """Up to `shots` exemplars of the item's kind, the item itself never among them."""
    usable = [
        c for c in pool
        if c.kind == item.kind and c.kind in answer_hints() and exemplar_answer(c) and not is_the_item(c, item)
    ]

    def rank(candidate: Sample) -> int:
        return 0 if candidate.task == item.task else 1 if candidate.dimension == item.dimension else 2

    return sorted(usable, key=rank)[:shots]  # sorted() is stable: file order within a rank


def exemplar_answer(sample: Sample) -> str:
    """The gold answer as a model reply; '' (not usable as an exemplar) for an ungraded sample."""
    gold = sample.gold
    if gold is None:
        return ""
    if sample.is_choice:
        return f"答案：{''.join(gold.letters or [])}"
    return gold.reference


def exemplar_turns(sample: Sample) -> list[Message]:
    question = prompts.render(sample.kind, sample.question, sample.options, sample.context)
    return [Message(role="user", content=question), Message(role="assistant", content=exemplar_answer(sample))]


def fewshot(pool: str | Path | None = None, shots: int = DEFAULT_SHOTS) -> Solver:
    pool_path = str(pool or DEFAULT_POOL)
    exemplar_pool = load_pool(pool_path)  # now, so a bad pool fails before any model call

    def add_examples(state: TaskState) -> None:
        exemplars = pick_exemplars(state.sample, exemplar_pool, shots)
        turns = [message for exemplar in exemplars for message in exemplar_turns(exemplar)]
        index = question_index(state)
        state.messages[index:index] = turns
        state.notes["fewshot"] = {"examples": [e.id for e in exemplars], "pool": Path(pool_path).name}

    return prompt_step(add_examples)
