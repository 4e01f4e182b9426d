"""Which MedBench sources are extraction tasks, and the extraction each asks for.

Kept apart from `extraction.py` (and its answer parser) because the MedBench loader asks this of
every line it reads, extraction source or not."""

from __future__ import annotations

# MedBench source (`other.source`, spelling-insensitive: see `source_key`) -> extraction type
SOURCE_TYPES = {
    "cmeee": "entities",
    "cmeeev2": "entities",
    "imcsv2ner": "entities",
    "cmeie": "relations",
    "cmeiev2": "relations",
    "chipcdee": "events",
    "chipcdn": "normalization",
    "chipctc": "classification",
}


def source_key(name: str) -> str:
    """A source name without case or punctuation: "CHIP-CDEE" and "chip_cdee" are one source."""
    return "".join(ch for ch in name.lower() if ch.isalnum())
