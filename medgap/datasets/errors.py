"""The one error every loader raises for bad input: it names the file, the 1-based line and the field."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A data file (or one row of it) cannot be turned into samples.

    `str()` reads like a compiler message, e.g.
    `data.jsonl:12: field 'answer': unknown answer letter 'F' (options are A–D)`.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<data>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message}"

    def at(self, *, path: str | Path | None = None, line: int | None = None) -> DatasetError:
        """The same error with the location filled in where it was missing."""
        return DatasetError(
            self.message,
            path=self.path if self.path is not None else path,
            line=self.line if self.line is not None else line,
            field=self.field,
        )
