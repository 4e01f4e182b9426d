"""Knowledge bases for retrieval-backed interventions (`retrieval`, `verify`): markdown passages,
BM25 over jieba tokens plus dense e5 vectors, hybrid search. `medgap kb build` writes a KB file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from medgap.kb.index import SEARCH_MODES, Hit, KnowledgeBase
from medgap.kb.passages import KBError, Passage

DEFAULT_KB_DIR = Path(__file__).resolve().parent / "data"
KB_ENV = "MEDGAP_KB"

__all__ = ["DEFAULT_KB_DIR", "KB_ENV", "SEARCH_MODES", "Hit", "KBError", "KnowledgeBase", "Passage", "load_kb"]


@cache
def load_kb(path: str | None = None) -> KnowledgeBase:
    """A KB file (`medgap kb build` output, .json) or a markdown file/folder built on the spot with
    dense vectors; None = the shipped drug-contraindication KB. Loaded once per process."""
    source = Path(path).expanduser() if path else DEFAULT_KB_DIR
    if source.is_file() and source.suffix.lower() == ".json":
        return KnowledgeBase.load(source)
    return KnowledgeBase.build(source, dense=True)
