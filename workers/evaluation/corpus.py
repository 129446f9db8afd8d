"""A folder of recordings with their transcripts, in either of two layouts:

- **Common Voice**: a ``test.tsv`` (or the ``--tsv`` named) with ``path`` and ``sentence``
  columns, the clips in ``clips/`` beside it (or in the folder itself);
- **pairs**: each audio file (wav, flac, mp3, ogg, m4a, webm) with a ``.txt`` of the same name.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".webm")


@dataclass(frozen=True)
class Recording:
    path: Path
    transcript: str


@dataclass
class Corpus:
    recordings: list[Recording]
    skipped: list[tuple[str, str]]  # (file, why)
    layout: str


class CorpusError(ValueError):
    """The folder holds nothing that can be scored; the message says what was looked for."""


def read_corpus(folder: Path, *, tsv: str | None = None, limit: int | None = None) -> Corpus:
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder} is not a folder")
    table = folder / (tsv or "test.tsv")
    corpus = _common_voice(folder, table) if table.is_file() else _pairs(folder)
    if tsv and not table.is_file():
        raise CorpusError(f"{table} does not exist")
    if limit is not None:
        corpus.recordings = corpus.recordings[:limit]
    if not corpus.recordings:
        raise CorpusError(
            f"no recording with a transcript in {folder}: expected a Common Voice test.tsv (path, sentence) "
            f"or audio files ({', '.join(AUDIO_SUFFIXES)}) each with a .txt of the same name")
    return corpus


def _common_voice(folder: Path, table: Path) -> Corpus:
    recordings, skipped = [], []
    with table.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not rows.fieldnames or not {"path", "sentence"} <= set(rows.fieldnames):
            raise CorpusError(f"{table} has no 'path' and 'sentence' columns (a Common Voice table has both)")
        for row in rows:
            name = (row.get("path") or "").strip()
            found = next((p for p in (folder / "clips" / name, folder / name) if name and p.is_file()), None)
            if found is None:
                skipped.append((name, "audio file not found"))
            elif not (row.get("sentence") or "").strip():
                skipped.append((name, "empty sentence"))
            else:
                recordings.append(Recording(found, row["sentence"].strip()))
    return Corpus(recordings, skipped, "common_voice")


def _pairs(folder: Path) -> Corpus:
    recordings, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        text = path.with_suffix(".txt")
        if not text.is_file():
            skipped.append((str(path.relative_to(folder)), "no .txt transcript beside it"))
        elif not text.read_text(encoding="utf-8").strip():
            skipped.append((str(path.relative_to(folder)), "empty transcript"))
        else:
            recordings.append(Recording(path, text.read_text(encoding="utf-8").strip()))
    return Corpus(recordings, skipped, "pairs")
