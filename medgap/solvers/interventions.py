"""Interventions: named solver steps selectable with `medgap run --intervention NAME[,NAME]`."""

from __future__ import annotations

from collections.abc import Callable

from medgap.solvers.base import Solver, default_chain

# name -> factory of the solver chain with that intervention applied to `chain`
INTERVENTIONS: dict[str, Callable[[list[Solver]], list[Solver]]] = {}


def build_chain(names: list[str]) -> list[Solver]:
    chain = default_chain()
    for name in names:
        if name not in INTERVENTIONS:
            known = ", ".join(sorted(INTERVENTIONS)) or "none yet"
            raise ValueError(f"unknown intervention {name!r}; known: {known}")
        chain = INTERVENTIONS[name](chain)
    return chain
