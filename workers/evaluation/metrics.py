"""Character error rate after zh-TW normalisation.

Both sides are brought to the same written form before counting, so that what is scored is
what was recognised and not how it was typed: Unicode NFKC (full-width letters and digits to
their usual forms), OpenCC ``s2twp`` (a Simplified-writing model is not penalised for the
script; the engines' own output passes through the same converter), case folded, and every
punctuation mark, symbol and space dropped. The edit operations are jiwer's (rapidfuzz).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import jiwer

from avatar.text_zh import to_traditional


def normalise_zh_tw(text: str) -> str:
    text = to_traditional(unicodedata.normalize("NFKC", text or ""), "s2twp").casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


@dataclass(frozen=True)
class CharErrors:
    substitutions: int
    deletions: int
    insertions: int
    reference_chars: int

    @property
    def edits(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def cer(self) -> float:
        return self.edits / self.reference_chars if self.reference_chars else float("nan")

    def as_row(self) -> dict[str, int | float]:
        """The CSV columns both evaluations write."""
        return {"substitutions": self.substitutions, "deletions": self.deletions, "insertions": self.insertions,
                "reference_chars": self.reference_chars, "cer": round(self.cer, 4)}

    @classmethod
    def from_row(cls, row: dict) -> CharErrors:
        return cls(row["substitutions"], row["deletions"], row["insertions"], row["reference_chars"])


def char_errors(reference: str, hypothesis: str) -> CharErrors:
    """Edits that turn the normalised ``reference`` into the normalised ``hypothesis``.
    Raises ValueError for a reference with no characters left to score."""
    ref, hyp = normalise_zh_tw(reference), normalise_zh_tw(hypothesis)
    if not ref:
        raise ValueError(f"the reference {reference!r} has no characters to score after normalisation")
    if not hyp:  # jiwer needs a non-empty hypothesis: everything was deleted
        return CharErrors(0, len(ref), 0, len(ref))
    out = jiwer.process_characters(ref, hyp)
    return CharErrors(out.substitutions, out.deletions, out.insertions, out.hits + out.substitutions + out.deletions)


def corpus_cer(errors: Iterable[CharErrors]) -> float:
    """All edits over all reference characters (not the mean of per-utterance rates: a short
    utterance would weigh as much as a long one)."""
    errors = list(errors)
    chars = sum(e.reference_chars for e in errors)
    return sum(e.edits for e in errors) / chars if chars else float("nan")
