"""Voice profiles on the workers' side: the analysis that turns a checked upload into a ready
profile (``prosody`` lane), and the reference a speech worker hands to its engine.

The API has already run the cheap checks (:func:`avatar.voice_upload.check_upload`) and
stored the original bytes; here the upload is checked again on the same bytes, decoded at
the engines' rate, trimmed of leading and trailing silence, loudness-normalised and
measured. Stored: the normalised WAV (``voice_profiles/{id}/reference.wav``), the 256-dim
resemblyzer embedding, the prosody profile (F0 median/range, energy dynamics: what emotion
transfer carries) and the ``lite`` engine's fitted adaptation, so the first cloned sentence
does not pay for fitting. The session that uploaded is told ``voice_profile_state``.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf

from avatar.audio_io import decode_audio, normalise_loudness, trim_silence
from avatar.db import VoiceProfile, session_scope
from avatar.events import VOICE_PROFILE_STATE
from avatar.jobs import ReferenceTranscriptJob, VoiceAnalysisJob
from avatar.settings import Settings
from avatar.storage import StorageKeyNotFound, get_storage
from avatar.voice_upload import (
    FAILED,
    READY,
    VoiceRejected,
    check_upload,
    local_reference_path,
    mark_failed,
    profile_prefix,
    profile_status,
    reference_key,
)
from workers.context import StageContext
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.lite import fit_adaptation
from workers.voice_analysis import prosody_profile, speaker_embedding

log = logging.getLogger(__name__)


@dataclass
class ProcessedVoice:
    reference: np.ndarray  # normalised, trimmed, at ``sample_rate``
    sample_rate: int
    duration_s: float
    embedding: list[float]
    prosody: dict[str, float]
    adaptation: dict[str, Any] = field(default_factory=dict)


def process_upload(data: bytes, settings: Settings) -> ProcessedVoice:
    """Check, decode and measure an uploaded sample; raises :class:`VoiceRejected`."""
    check_upload(data, settings)
    # The reference at the engines' rate, from the full-rate decode (not the 16 kHz copy).
    full = decode_audio(data, settings.voice_reference_sr)
    reference = normalise_loudness(trim_silence(full, settings.voice_reference_sr), settings.voice_reference_sr)
    return ProcessedVoice(
        reference=reference,
        sample_rate=settings.voice_reference_sr,
        duration_s=len(reference) / settings.voice_reference_sr,
        embedding=[float(v) for v in speaker_embedding(reference, settings.voice_reference_sr)],
        prosody=prosody_profile(reference, settings.voice_reference_sr).as_dict(),
        adaptation={"lite": fit_adaptation(
            reference, settings.voice_reference_sr, voice=settings.espeak_voice,
            words_per_minute=settings.espeak_words_per_minute,
        ).as_dict()},
    )


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _announce(ctx: StageContext, job: VoiceAnalysisJob, status: str, **error: str) -> None:
    if job.session_id:
        ctx.services.emitter.emit(VOICE_PROFILE_STATE, {"profile_id": job.profile_id, "status": status, **error},
                                  job.session_id)


def voice_analysis_failed(ctx: StageContext, job: VoiceAnalysisJob, code: str, message: str, fix: str = "") -> None:
    """The profile ends ``failed`` with the reason (a rejected sample or an engine error)."""
    text = f"{message}（{fix}）" if fix else message
    with ctx.services.db() as db:
        row = db.get(VoiceProfile, uuid.UUID(job.profile_id))
        if row is None:
            return
        mark_failed(row, str(code), text)
    _announce(ctx, job, FAILED, code=str(code), message=text)


def analyze_voice(ctx: StageContext, job: VoiceAnalysisJob) -> dict[str, Any]:
    """``processing`` → ``ready`` (or ``failed`` with the same codes as the API's checks)."""
    services = ctx.services
    profile_id = uuid.UUID(job.profile_id)
    with services.db() as db:
        row = db.get(VoiceProfile, profile_id)
        if row is None:
            return {"skipped": "voice deleted"}
        if profile_status(row.meta) == READY:  # a redelivered job: the work is done
            return {"profile_id": job.profile_id, "status": READY}
    try:
        data = services.storage.get(job.original_key)
    except StorageKeyNotFound:
        return {"skipped": "voice deleted"}  # deleted between the row read and now
    try:
        processed = process_upload(data, ctx.settings)
    except VoiceRejected as exc:
        voice_analysis_failed(ctx, job, exc.code, exc.message)
        return {"profile_id": job.profile_id, "status": FAILED, "code": exc.code}
    services.storage.put(reference_key(profile_id), wav_bytes(processed.reference, processed.sample_rate))
    with services.db() as db:
        row = db.get(VoiceProfile, profile_id)
        if row is not None:
            meta = {k: v for k, v in (row.meta or {}).items() if k != "error"}
            row.embedding = processed.embedding
            row.duration_sec = processed.duration_s
            row.meta = {**meta, "status": READY, "sample_rate": processed.sample_rate,
                        "prosody": processed.prosody, "adaptation": processed.adaptation}
    if row is None:  # deleted while it was analysed: leave no file behind
        services.storage.delete_prefix(profile_prefix(profile_id))
        return {"skipped": "voice deleted"}
    if job.needs_transcript:
        _queue_transcript(ctx, job.profile_id)
    _announce(ctx, job, READY)
    return {"profile_id": job.profile_id, "status": READY, "duration_s": round(processed.duration_s, 2)}


def _queue_transcript(ctx: StageContext, profile_id: str) -> None:
    try:
        ctx.services.dispatcher.reference_transcript(ReferenceTranscriptJob(profile_id=profile_id))
    except Exception as exc:  # the broker is down: the profile stands; lite needs no transcript
        log.warning("could not queue the reference transcript of %s: %s", profile_id, exc)
        with ctx.services.db() as db:
            row = db.get(VoiceProfile, uuid.UUID(profile_id))
            if row is not None:
                row.meta = {**(row.meta or {}), "transcript_status": "unavailable"}


def load_voice_reference(profile_id: str | None, settings: Settings) -> VoiceReference | None:
    """The reference for a speech worker: the row, and the normalised WAV copied from
    storage (local disk or MinIO) into a local cache once. None: no such profile (deleted
    meanwhile) or one that is not ready, and the sentence is spoken without cloning."""
    if not profile_id:
        return None
    with session_scope(settings.resolved_database_url) as db:
        row = db.get(VoiceProfile, uuid.UUID(profile_id))
        if row is None or profile_status(row.meta) != READY:
            return None
        meta = dict(row.meta or {})
        key = row.audio_url
    path = local_reference_path(settings, profile_id)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
        tmp.write_bytes(get_storage(settings).get(key))
        tmp.replace(path)
    return VoiceReference(
        profile_id=profile_id, audio_path=path, transcript=str(meta.get("transcript") or ""),
        adaptation=meta.get("adaptation") or None,
    )
