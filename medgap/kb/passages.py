"""Markdown files -> passages: one passage per section (the text under a heading, down to the next
heading), long sections split at blank lines. YAML front matter between `---` lines at the top of a
file (title, licence, sources) describes the document and is not indexed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

MAX_PASSAGE_CHARS = 800
KB_SUFFIXES = (".md", ".markdown", ".txt")

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class KBError(ValueError):
    """A knowledge-base file that cannot be read, with where it went wrong."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}" if path and line else str(path or "")
        super().__init__(f"{where}: {message}" if where else message)


class Passage(BaseModel):
    id: str  # "<file stem>#<heading>", unique in a knowledge base
    title: str  # heading path, "document > section"
    text: str
    source: str  # file name (relative to the folder the KB was built from)
    line: int  # 1-based line where the section starts

    def indexed_text(self) -> str:
        return f"{self.title}\n{self.text}"


class Document(BaseModel):
    """One source file and what its front matter says about it."""

    source: str
    metadata: dict = Field(default_factory=dict)


def split_front_matter(text: str, path: Path) -> tuple[dict, list[str], int]:
    """(front matter, remaining lines, number of lines the front matter took)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, lines, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            try:
                meta = yaml.safe_load("\n".join(lines[1:end])) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                raise KBError(f"invalid front matter: {exc}", path, (mark.line + 2) if mark else 1) from None
            if not isinstance(meta, dict):
                raise KBError("front matter must be a YAML mapping", path, 2)
            return meta, lines[end + 1 :], end + 1
    raise KBError("front matter opened with '---' is never closed", path, 1)


def paragraphs_within(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most about `limit` characters, cut at blank lines where possible."""
    if len(text) <= limit:
        return [text]
    pieces, current = [], ""
    for block in re.split(r"\n\s*\n", text):
        if current and len(current) + len(block) + 2 > limit:
            pieces.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
    pieces.append(current)
    return pieces


def read_markdown(path: Path, source: str) -> tuple[Document, list[Passage]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KBError(f"cannot read: {exc}", path) from None
    meta, lines, offset = split_front_matter(text, path)
    stem = Path(source).stem
    passages: list[Passage] = []
    headings: list[tuple[int, str]] = []
    body: list[str] = []
    start = offset + 1

    def flush() -> None:
        content = "\n".join(body).strip()
        if not content:
            return
        name = headings[-1][1] if headings else stem
        title = " > ".join(h for _, h in headings) or stem
        pieces = paragraphs_within(content, MAX_PASSAGE_CHARS)
        for i, piece in enumerate(pieces, start=1):
            suffix = f"-{i}" if len(pieces) > 1 else ""
            passages.append(Passage(id=f"{stem}#{name}{suffix}", title=title, text=piece, source=source, line=start))

    for number, line in enumerate(lines, start=offset + 1):
        match = _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            headings = [h for h in headings if h[0] < level] + [(level, match.group(2).strip())]
            body, start = [], number
        else:
            body.append(line)
    flush()
    return Document(source=source, metadata=meta), passages


def source_files(path: Path) -> list[tuple[Path, str]]:
    """(file, name relative to `path`) for a markdown/text file or every one under a folder."""
    path = Path(path)
    if path.is_file():
        return [(path, path.name)]
    if not path.is_dir():
        raise KBError("no such file or folder", path)
    files = [
        (file, file.relative_to(path).as_posix())
        for file in sorted(path.rglob("*"))
        if file.is_file() and file.suffix.lower() in KB_SUFFIXES
        and not any(part.startswith(".") for part in file.relative_to(path).parts)
    ]
    if not files:
        raise KBError(f"no {', '.join(KB_SUFFIXES)} files in this folder", path)
    return files


def read_sources(path: Path) -> tuple[list[Document], list[Passage]]:
    documents, passages = [], []
    for file, source in source_files(path):
        document, found = read_markdown(file, source)
        documents.append(document)
        passages.extend(found)
    return documents, unique_ids(passages)


def unique_ids(passages: list[Passage]) -> list[Passage]:
    """Repeated section names in one file get `~2`, `~3`… so every id stays unique."""
    seen: dict[str, int] = {}
    out = []
    for passage in passages:
        count = seen.get(passage.id, 0) + 1
        seen[passage.id] = count
        out.append(passage if count == 1 else passage.model_copy(update={"id": f"{passage.id}~{count}"}))
    return out
