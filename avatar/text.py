"""Text cleanup before speech: what a TTS engine should never be asked to read aloud."""

from __future__ import annotations

import re
import unicodedata

# U+FFFD (undecodable bytes from a model), control characters, Markdown markup.
_UNSPEAKABLE = re.compile(r"[\ufffd\u0000-\u0008\u000b-\u001f\u007f*#`_~|<>\[\]{}]+")
_SPACES = re.compile(r"\s+")


def speakable_text(text: str) -> str:
    """The text with unspeakable characters removed and whitespace collapsed; empty when
    nothing speakable (no letter or digit) remains."""
    cleaned = _SPACES.sub(" ", _UNSPEAKABLE.sub(" ", text)).strip()
    if not any(unicodedata.category(ch)[0] in "LN" for ch in cleaned):
        return ""
    return cleaned
