"""The storage key layout, in one place so every writer files audio the same way.

Layout::

    raw_inputs/YYYY/MM/DD/{session}_{turn}_{ts}.wav      (what the user said, by UTC day)
    voice_profiles/{profile}/{filename}                   (reference audio for cloning)
    synthesized/{fast|hq}/{turn}_{seq}_{ts}.wav           (TTS output, one file per chunk)

``ts`` is a compact UTC timestamp with milliseconds (``20261122T130501123Z``): it sorts
lexically in time order and contains only key-safe characters.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal
from uuid import UUID

from avatar.storage.base import InvalidStorageKey, validate_key

__all__ = [
    "SYNTH_MODES",
    "SynthMode",
    "compact_ts",
    "raw_input_key",
    "synthesized_key",
    "voice_profile_key",
]

SynthMode = Literal["fast", "hq"]
SYNTH_MODES: tuple[str, ...] = ("fast", "hq")

Id = str | int | UUID


def compact_ts(ts: datetime) -> str:
    """Format ``ts`` as ``YYYYMMDDTHHMMSSmmmZ`` in UTC.

    Naive datetimes are refused: guessing their zone would silently misfile audio by hours.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (use datetime.now(timezone.utc))")
    utc = ts.astimezone(timezone.utc)
    return f"{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z"


def _id_part(value: Id, what: str) -> str:
    text = str(value)
    if not text or "/" in text:
        raise InvalidStorageKey(f"{what} must be a non-empty value without '/': {text!r}")
    return text


def raw_input_key(session_id: Id, turn_id: Id, ts: datetime) -> str:
    """Key of the raw user audio for one turn, filed under its UTC day."""
    stamp = compact_ts(ts)  # validates that ts is timezone-aware
    utc = ts.astimezone(timezone.utc)
    name = f"{_id_part(session_id, 'session_id')}_{_id_part(turn_id, 'turn_id')}_{stamp}.wav"
    return validate_key(f"raw_inputs/{utc:%Y/%m/%d}/{name}")


def voice_profile_key(profile_id: Id, filename: str = "original.wav") -> str:
    """Key of a file belonging to a voice profile (``delete_prefix`` of its folder drops it)."""
    return validate_key(
        f"voice_profiles/{_id_part(profile_id, 'profile_id')}/{_id_part(filename, 'filename')}"
    )


def synthesized_key(mode: SynthMode, turn_id: Id, seq: int, ts: datetime) -> str:
    """Key of synthesized chunk ``seq`` of a turn's reply in the ``fast`` or ``hq`` tier."""
    if mode not in SYNTH_MODES:
        raise ValueError(f"mode must be one of {SYNTH_MODES}, not {mode!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError(f"seq must be a non-negative int, not {seq!r}")
    name = f"{_id_part(turn_id, 'turn_id')}_{seq}_{compact_ts(ts)}.wav"
    return validate_key(f"synthesized/{mode}/{name}")
