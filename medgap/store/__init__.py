"""Persistence of runs, samples and rows."""

from medgap.store.errors import LeaseLost, RunBusy, RunExists, RunNotFound, StoreError
from medgap.store.lease import Lease
from medgap.store.sqlite import DEFAULT_DB, RunInfo, Store

__all__ = ["DEFAULT_DB", "Lease", "LeaseLost", "RunBusy", "RunExists", "RunInfo", "RunNotFound", "Store",
           "StoreError"]
