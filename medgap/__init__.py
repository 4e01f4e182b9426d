"""medgap: benchmark Chinese medical LLMs the MedBench way and turn the gaps into targeted fixes."""

from __future__ import annotations

import functools


@functools.cache
def package_version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medgap")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":  # looked up when used, not on every import
        return package_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
