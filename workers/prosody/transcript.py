"""What the transcript tells prosody: syllables (one Chinese character = one syllable) and
filled pauses."""

from __future__ import annotations

import re

# Hesitation markers of Taiwanese Mandarin (Traditional and Simplified forms). 那個 and 就是
# are also ordinary words; as fillers they dominate in spontaneous speech, so counting every
# occurrence over-counts a little (documented in docs/prosody.md).
FILLERS: tuple[str, ...] = ("嗯", "呃", "額", "欸", "誒", "那個", "那个", "就是", "然後", "然后")
_LATIN_FILLERS = re.compile(r"\b(um+|uh+|erm*|hmm+)\b", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+", re.IGNORECASE)


def count_syllables(text: str) -> int:
    """CJK characters count one syllable each; Latin words count their vowel groups."""
    cjk = len(_CJK.findall(text))
    latin = sum(max(1, len(_VOWEL_GROUP.findall(w))) for w in _LATIN_WORD.findall(text))
    return cjk + latin


def count_filled_pauses(text: str) -> int:
    # Longest markers first so 那個 is not also counted as something shorter.
    rest, count = text, 0
    for marker in sorted(FILLERS, key=len, reverse=True):
        count += rest.count(marker)
        rest = rest.replace(marker, " ")
    return count + len(_LATIN_FILLERS.findall(rest))
