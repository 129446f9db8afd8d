"""The transcript of a voice reference, from the configured ASR engine (neural cloning
engines need it; ``lite`` does not). Without a usable ASR engine the profile keeps an empty
transcript flagged ``unavailable``, and F5/CosyVoice say that this voice needs one."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import soundfile as sf

from avatar.db import VoiceProfile, session_scope
from avatar.settings import get_settings
from workers.audio_io import resample
from workers.engines.base import EngineUnavailable
from workers.voice_profiles import load_voice_reference

log = logging.getLogger(__name__)


def _update(profile_id: str, **fields: Any) -> None:
    with session_scope() as db:
        row = db.get(VoiceProfile, uuid.UUID(profile_id))
        if row is not None:
            row.meta = {**(row.meta or {}), **fields}


def transcribe_reference(profile_id: str) -> dict[str, Any]:
    settings = get_settings()
    voice = load_voice_reference(profile_id, settings)
    if voice is None:
        return {"skipped": "voice deleted"}
    try:
        from workers.engines.registry import get_asr_engine

        samples, sr = sf.read(voice.audio_path, dtype="float32", always_2d=False)
        transcript = get_asr_engine(settings).transcribe(resample(samples, int(sr), 16_000))
    except (EngineUnavailable, ImportError, KeyError, ModuleNotFoundError) as exc:
        log.warning("no ASR engine for the reference transcript of %s: %s", profile_id, exc)
        _update(profile_id, transcript_status="unavailable", transcript_error=str(exc)[:300])
        return {"profile_id": profile_id, "transcript_status": "unavailable"}
    _update(profile_id, transcript=transcript.text, transcript_status="done",
            transcript_confidence=transcript.confidence)
    return {"profile_id": profile_id, "transcript_status": "done"}
