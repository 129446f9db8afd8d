"""Read measured figures from ``docs/benchmarks.md``, cell by cell, as the benchmarks wrote them.

A :class:`Cell` names one table cell the way a reader finds it: the section (its ``## ``
heading's start), the table (a phrase of the paragraph just above it, when the section has
several), the row (its first cells) and the column (its header). Reading one that is missing
or ambiguous raises :class:`BenchDocError` naming what was looked for, so a benchmark that
renames a row breaks the figure loudly instead of feeding the planner something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class BenchDocError(LookupError):
    """A cell (or section) that docs/benchmarks.md does not hold exactly once."""


@dataclass(frozen=True)
class Table:
    caption: str  # the paragraph right above the table (may be empty)
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Cell:
    section: str  # the start of the section's "## " heading
    row: tuple[str, ...]  # the row's first cells, as written (markdown included)
    column: str  # the column's header, as written
    caption: str = ""  # a phrase of the paragraph above the table, when the section has several tables
    part: int = 0  # which number of the cell: "7.52 / 10.58" holds two

    def cite(self) -> str:
        """How a source line names the cell."""
        table = f", table '{self.caption}'" if self.caption else ""
        return f"docs/benchmarks.md, {self.section}{table}, row {' / '.join(self.row)}, column {self.column}"

    def text(self, doc: Path = BENCHMARKS) -> str:
        matches = [t for t in tables(self.section, doc) if self.caption in t.caption and self.column in t.header]
        found = [(t, r) for t in matches for r in t.rows if r[: len(self.row)] == self.row]
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise BenchDocError(f"{what} row {self.row!r} with a column {self.column!r} in {doc.name} "
                                f"section {self.section!r}" + (f" (table '{self.caption}')" if self.caption else ""))
        table, row = found[0]
        return row[table.header.index(self.column)]

    def value(self, doc: Path = BENCHMARKS) -> float:
        text = self.text(doc)
        numbers = _NUMBER.findall(text.replace(",", ""))
        if len(numbers) <= self.part:
            raise BenchDocError(f"{self.cite()}: {text!r} holds no number #{self.part}")
        return float(numbers[self.part])


def section_text(heading: str, doc: Path = BENCHMARKS) -> str:
    """The text of the one section whose ``## `` heading starts with ``heading``."""
    return _section(heading, _read(doc))


def tables(heading: str, doc: Path = BENCHMARKS) -> list[Table]:
    return _tables(_section(heading, _read(doc)))


@lru_cache(maxsize=4)
def _read_cached(path: str, mtime: float) -> str:
    return Path(path).read_text(encoding="utf-8")


def _read(doc: Path) -> str:
    return _read_cached(str(doc), doc.stat().st_mtime)


def _section(heading: str, text: str) -> str:
    starts = [m.start() for m in re.finditer(r"^## ", text, re.M)]
    found = [s for s in starts if text[s + 3:].startswith(heading)]
    if len(found) != 1:
        raise BenchDocError(f"{len(found)} sections whose heading starts with {heading!r} in docs/benchmarks.md")
    start = found[0]
    end = next((s for s in starts if s > start), len(text))
    return text[start:end]


def _cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def _tables(text: str) -> list[Table]:
    """Every table of ``text``, each with the last paragraph above it as its caption."""
    found: list[Table] = []
    paragraph: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|\s*:?-", lines[i + 1]):
            header, rows = _cells(line), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            found.append(Table(" ".join(paragraph), header, tuple(rows)))
            paragraph = []
            continue
        if line.strip():
            if i and not lines[i - 1].strip():  # a new paragraph
                paragraph = []
            paragraph.append(line.strip())
        i += 1
    return found


__all__ = ["BENCHMARKS", "BenchDocError", "Cell", "Table", "section_text", "tables"]
