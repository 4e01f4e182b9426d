"""Persistence of runs, samples and rows."""

from medgap.store.sqlite import DEFAULT_DB, RunNotFound, Store

__all__ = ["DEFAULT_DB", "RunNotFound", "Store"]
