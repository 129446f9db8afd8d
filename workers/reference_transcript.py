"""The transcript of a voice reference, from the configured ASR engine (neural cloning
engines need it; ``lite`` does not). Queued by the voice analysis once the profile is ready.
Without a usable ASR engine the profile keeps an empty transcript flagged ``unavailable``,
and F5/CosyVoice say that this voice needs one."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import soundfile as sf

from avatar.audio_io import resample
from avatar.db import VoiceProfile
from avatar.jobs import ReferenceTranscriptJob
from workers.context import StageContext
from workers.engines.base import EngineUnavailable
from workers.voice_profiles import load_voice_reference

log = logging.getLogger(__name__)


def _update(ctx: StageContext, profile_id: str, **fields: Any) -> None:
    with ctx.services.db() as db:
        row = db.get(VoiceProfile, uuid.UUID(profile_id))
        if row is not None:
            row.meta = {**(row.meta or {}), **fields}


def transcript_failed(ctx: StageContext, job: ReferenceTranscriptJob, code: str, message: str, fix: str = "") -> None:
    """An ASR error leaves the profile usable (``lite`` needs no transcript), flagged."""
    _update(ctx, job.profile_id, transcript_status="unavailable", transcript_error=f"{code}: {message}"[:300])


def transcribe_reference(ctx: StageContext, job: ReferenceTranscriptJob) -> dict[str, Any]:
    profile_id = job.profile_id
    voice = load_voice_reference(profile_id, ctx.settings)
    if voice is None:
        return {"skipped": "voice deleted or not ready"}
    try:
        samples, sr = sf.read(voice.audio_path, dtype="float32", always_2d=False)
        transcript = ctx.engines.asr().transcribe(resample(samples, int(sr), 16_000))
    except (EngineUnavailable, ImportError, KeyError, ModuleNotFoundError) as exc:
        log.warning("no ASR engine for the reference transcript of %s: %s", profile_id, exc)
        _update(ctx, profile_id, transcript_status="unavailable", transcript_error=str(exc)[:300])
        return {"profile_id": profile_id, "transcript_status": "unavailable"}
    _update(ctx, profile_id, transcript=transcript.text, transcript_status="done",
            transcript_confidence=transcript.confidence)
    return {"profile_id": profile_id, "transcript_status": "done"}
