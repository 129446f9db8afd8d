"""Traditional Chinese (Taiwan) output for transcripts: OpenCC, and Whisper's known inventions."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import opencc

# Whisper was trained on subtitles: on silence and noise it writes their credits and sign-offs.
HALLUCINATION_PHRASES: tuple[str, ...] = (
    "謝謝觀看", "謝謝收看", "感謝觀看", "感謝收看", "請不吝點贊", "請不吝點讚", "訂閱", "點贊", "點讚",
    "字幕", "明鏡與點點欄目", "優優獨播劇場", "YoYo Television Series", "Amara.org", "謝謝大家",
)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")


@lru_cache(maxsize=4)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_traditional(text: str, config: str = "s2twp") -> str:
    """Simplified → Traditional with Taiwan phrasing; drops the replacement characters a
    byte-level decoder leaves when a segment ends inside a multi-byte character, and control
    characters."""
    text = _CONTROL.sub("", text)
    text = _SPACE.sub(" ", text).strip()
    return _converter(config).convert(text) if text and config else text


# ASR models that write Traditional Chinese (Taiwan) themselves, by their folder's name: OpenCC
# is not run on their output (its phrase table would "correct" what is already Taiwan usage).
# MediaTek's Breeze-ASR-25 (Whisper-large-v2 fine-tuned on Taiwanese Mandarin) is one.
TRADITIONAL_ASR_MODELS: tuple[str, ...] = ("breeze-asr",)


def opencc_config_for(model: str | Path, configured: str) -> str:
    """The OpenCC config to run on ``model``'s output: ``configured`` (``s2twp``), or "" for a
    model that writes Traditional Chinese itself (:data:`TRADITIONAL_ASR_MODELS`)."""
    name = Path(str(model)).name.lower()
    return "" if any(known in name for known in TRADITIONAL_ASR_MODELS) else configured


def hallucination_in(text: str) -> str | None:
    """The known subtitle phrase ``text`` consists of (after trimming punctuation), if any."""
    core = re.sub(r"[\s，。！？、,.!?~～…]+", "", text)
    for phrase in HALLUCINATION_PHRASES:
        norm = re.sub(r"\s+", "", phrase)
        if norm and norm in core and len(core) <= len(norm) + 6:
            return phrase
    return None
