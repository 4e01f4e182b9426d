"""Knowledge bases for retrieval-backed interventions (`retrieval`, `verify`): markdown passages,
BM25 over jieba tokens plus dense e5 vectors, hybrid search. `medgap kb build` writes a KB file.

The shipped KB is `data/drug_contraindications.md`; its vectors are shipped beside it in
`data/drug_contraindications.kb.json` (rebuild with `medgap kb build medgap/kb/data -o
medgap/kb/data/drug_contraindications.kb.json` after editing the markdown: a stale file is detected
and the KB is embedded afresh in memory instead)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from medgap.kb.index import SEARCH_MODES, Hit, KnowledgeBase
from medgap.kb.passages import KBError, Passage, read_sources

DEFAULT_KB_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_KB_FILE = DEFAULT_KB_DIR / "drug_contraindications.kb.json"

__all__ = [
    "DEFAULT_KB_DIR", "DEFAULT_KB_FILE", "SEARCH_MODES", "Hit", "KBError", "KnowledgeBase", "Passage",
    "default_kb", "load_kb",
]


def default_kb() -> KnowledgeBase:
    """The shipped KB: the prebuilt file when it still matches the markdown, else built afresh."""
    _, passages = read_sources(DEFAULT_KB_DIR)
    if DEFAULT_KB_FILE.exists():
        shipped = KnowledgeBase.load(DEFAULT_KB_FILE)
        if shipped.passages == passages and shipped.has_vectors:
            return shipped
    return KnowledgeBase.build(DEFAULT_KB_DIR, dense=True)


@cache
def load_kb(path: str | None = None) -> KnowledgeBase:
    """A KB file (`medgap kb build` output, .json), or a markdown file/folder embedded on the spot;
    None = the shipped drug-contraindication KB. Loaded once per process."""
    if not path:
        return default_kb()
    source = Path(path).expanduser()
    if source.is_file() and source.suffix.lower() == ".json":
        return KnowledgeBase.load(source)
    return KnowledgeBase.build(source, dense=True)
