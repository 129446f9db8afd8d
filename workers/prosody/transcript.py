"""What the transcript tells prosody: syllables (one Chinese character = one syllable) and
filled pauses."""

from __future__ import annotations

import re

# Hesitation sounds: always fillers.
HESITATIONS: tuple[str, ...] = ("嗯", "呃", "額", "欸", "誒")
# Discourse fillers of Taiwanese Mandarin (Traditional and Simplified). They are ordinary
# words too (这就是我: "this is me"), so they count only where fillers sit: at the start of a
# clause, or followed by a pause mark or another filler ("就是，那個，我想問").
DISCOURSE_FILLERS: tuple[str, ...] = ("那個", "那个", "就是", "然後", "然后")
_PUNCT = "，。！？、；：,.!?;: …"
_LATIN_FILLERS = re.compile(r"(?<![A-Za-z])(?:um+|uh+|erm*|hmm+)(?![A-Za-z])", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+", re.IGNORECASE)
_DISCOURSE = re.compile(
    "(?:(?<=^)|(?<=[" + _PUNCT + "]))(?:" + "|".join(DISCOURSE_FILLERS) + ")"
    "|(?:" + "|".join(DISCOURSE_FILLERS) + ")(?=[" + _PUNCT + "]|$|" + "|".join(DISCOURSE_FILLERS + HESITATIONS) + ")"
)


def count_syllables(text: str) -> int:
    """CJK characters count one syllable each; Latin words count their vowel groups."""
    cjk = len(_CJK.findall(text))
    latin = sum(max(1, len(_VOWEL_GROUP.findall(w))) for w in _LATIN_WORD.findall(text))
    return cjk + latin


def count_filled_pauses(text: str) -> int:
    text = text.strip()
    hesitations = sum(text.count(h) for h in HESITATIONS)
    return hesitations + len(_DISCOURSE.findall(text)) + len(_LATIN_FILLERS.findall(text))
