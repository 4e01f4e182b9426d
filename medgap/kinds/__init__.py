"""The item kinds medgap knows: every module of this package that defines `SPEC` (a `KindSpec`).

    from medgap.kinds import spec_for, all_specs
    spec_for("multi").scorer(...)

A new kind is a new module here; nothing else has to list it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from medgap.kinds.base import KindSpec, MetricSpec

NOT_KINDS = {"base", "aggregates"}


@cache
def all_specs() -> tuple[KindSpec, ...]:
    """Every kind, in display order."""
    specs = []
    for module in pkgutil.iter_modules(__path__):
        if module.name not in NOT_KINDS:
            spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SPEC", None)
            if isinstance(spec, KindSpec):
                specs.append(spec)
    return tuple(sorted(specs, key=lambda spec: (spec.order, spec.name)))


@cache
def by_kind() -> dict[str, KindSpec]:
    return {kind: spec for spec in all_specs() for kind in spec.kinds}


def kind_names() -> tuple[str, ...]:
    """Every `Sample.kind` value, in display order."""
    return tuple(by_kind())


def spec_for(kind: str) -> KindSpec:
    try:
        return by_kind()[kind]
    except KeyError:
        raise ValueError(f"unknown item kind {kind!r} (one of {', '.join(kind_names())})") from None


def all_metrics() -> tuple[MetricSpec, ...]:
    """Every kind's metrics, in display order."""
    return tuple(metric for spec in all_specs() for metric in spec.metrics)


@cache
def _metrics_by_name() -> dict[str, MetricSpec]:
    return {m.name: m for m in all_metrics()}


def metric(name: str) -> MetricSpec | None:
    """A metric's declaration by its name in `medgap results`; None for a name no kind declares."""
    return _metrics_by_name().get(name)


@cache
def answer_hints() -> dict[str, str]:
    """Sample kind -> what its answer is, for the kinds answered in plain text (few-shot examples and
    the `json` solver apply only to those)."""
    return {kind: hint for spec in all_specs() for kind, hint in spec.answer_hints.items()}
