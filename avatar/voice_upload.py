"""A voice upload as the API takes it: the cheap checks that answer the client at once, the
profile row in ``processing``, and the analysis job that makes it ``ready`` or ``failed``.

The checks here need PyAV and numpy only (decode at 16 kHz, silence share, clipping, speech
length): they run in the API's thread pool. Everything that needs a model (speaker
embedding, prosody profile, the ``lite`` fit) runs on the ``prosody`` lane
(``workers/voice_profiles.py``), which re-runs these checks on the full-rate decode.

A profile's ``meta.status`` is ``processing``, ``ready`` or ``failed`` (with ``meta.error``
``{code, message}``); a row stored before analysis became a job has no status and counts as
ready.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar.audio_io import UndecodableAudio, active_frames, clipped_fraction, decode_audio, trim_silence
from avatar.db import VoiceProfile
from avatar.domain import ErrorCode
from avatar.jobs import VoiceAnalysisJob
from avatar.services import Services
from avatar.settings import Settings
from avatar.storage.keys import voice_profile_key

ACCEPTED_EXTENSIONS = ("wav", "mp3", "m4a", "mp4", "ogg", "oga", "opus", "webm", "flac")
ANALYSIS_SR = 16_000
MAX_SILENCE_SHARE = 0.75  # more silent frames than this (before trimming): "mostly silence"
MAX_CLIPPED_SHARE = 0.01  # samples inside full-scale runs

PROCESSING, READY, FAILED = "processing", "ready", "failed"


class VoiceRejected(ValueError):
    """A bad upload: ``code`` for clients, ``message`` in Traditional Chinese + English."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class AnalysisNotQueued(Exception):
    """The profile was stored but its analysis could not be queued (the broker is down);
    the profile is marked ``failed`` rather than left ``processing`` forever."""

    def __init__(self, profile_id: uuid.UUID, reason: str) -> None:
        super().__init__(reason)
        self.profile_id = profile_id
        self.code = ErrorCode.QUEUE_UNAVAILABLE.value
        self.message = f"聲音分析暫時無法排入佇列，請稍後再上傳一次（analysis queue unavailable: {reason}）"


@dataclass(frozen=True)
class CheckedUpload:
    speech_s: float  # speech left after trimming leading and trailing silence


def check_size(size: int, settings: Settings) -> None:
    if size > settings.voice_upload_max_mb * 1024 * 1024:
        raise VoiceRejected(
            "VOICE_TOO_LARGE",
            f"檔案過大：上限 {settings.voice_upload_max_mb:g} MB（file too large）", status=413,
        )
    if size == 0:
        raise VoiceRejected("VOICE_UNDECODABLE", "檔案是空的（empty file）")


def check_upload(data: bytes, settings: Settings) -> CheckedUpload:
    """Size, decodability, silence share, clipping and speech length; raises
    :class:`VoiceRejected` with the code the client shows."""
    check_size(len(data), settings)
    try:
        samples = decode_audio(data, ANALYSIS_SR)
    except UndecodableAudio as exc:
        raise VoiceRejected(
            "VOICE_UNDECODABLE",
            "無法解讀此音檔，請上傳 wav、mp3、m4a、ogg、webm 或 flac（undecodable audio）",
        ) from exc
    active = active_frames(samples, ANALYSIS_SR)
    if len(active) == 0 or active.mean() < 1.0 - MAX_SILENCE_SHARE:
        raise VoiceRejected("VOICE_MOSTLY_SILENCE", "錄音大多是靜音，請靠近麥克風再錄一次（mostly silence）")
    if clipped_fraction(samples) > MAX_CLIPPED_SHARE:
        raise VoiceRejected("VOICE_CLIPPED", "錄音音量過大而失真（破音），請降低音量再錄（heavily clipped）")
    speech_s = len(trim_silence(samples, ANALYSIS_SR)) / ANALYSIS_SR
    if speech_s < settings.voice_min_speech_s:
        raise VoiceRejected(
            "VOICE_TOO_SHORT",
            f"有效語音只有 {speech_s:.1f} 秒，至少需要 {settings.voice_min_speech_s:g} 秒（too short）",
        )
    if speech_s > settings.voice_max_speech_s:
        raise VoiceRejected(
            "VOICE_TOO_LONG",
            f"有效語音有 {speech_s:.1f} 秒，上限 {settings.voice_max_speech_s:g} 秒（too long）",
        )
    return CheckedUpload(speech_s=speech_s)


def extension_of(filename: str | None) -> str:
    ext = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else "bin"
    return ext if ext in ACCEPTED_EXTENSIONS else "bin"


def reference_key(profile_id: str | uuid.UUID) -> str:
    """The normalised reference WAV (exists once the profile is ready)."""
    return voice_profile_key(profile_id, "reference.wav")


def original_key(profile_id: str | uuid.UUID, filename: str | None) -> str:
    return voice_profile_key(profile_id, f"original.{extension_of(filename)}")


def profile_prefix(profile_id: str | uuid.UUID) -> str:
    """Every stored file of a profile (original, reference, previews) lies under this."""
    return f"voice_profiles/{profile_id}/"


def local_reference_path(settings: Settings, profile_id: str) -> Path:
    """A speech worker's local copy of the reference (the delete route removes its folder)."""
    return settings.data_dir / "cache" / "voices" / profile_id / "reference.wav"


def profile_status(meta: dict[str, Any] | None) -> str:
    return str((meta or {}).get("status") or READY)


def profile_error(meta: dict[str, Any] | None) -> dict[str, str] | None:
    error = (meta or {}).get("error")
    return {"code": str(error.get("code", "")), "message": str(error.get("message", ""))} if error else None


def mark_failed(row: VoiceProfile, code: str, message: str) -> None:
    row.meta = {**(row.meta or {}), "status": FAILED, "error": {"code": str(code), "message": message}}


def create_profile(
    services: Services, data: bytes, checked: CheckedUpload, *, name: str, filename: str | None,
    content_type: str | None, transcript: str = "", session_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store the checked upload, create its row in ``processing`` (``owner_id``'s; ``None``:
    the operator's) and queue its analysis. Raises :class:`AnalysisNotQueued` (the row
    stays, marked failed) when the broker is down."""
    profile_id = uuid.uuid4()
    original = original_key(profile_id, filename)
    services.storage.put(original, data, content_type=content_type or "application/octet-stream")
    transcript = transcript.strip()
    with services.db() as db:  # committed before the job is queued: the worker reads the row
        db.add(VoiceProfile(
            profile_id=profile_id, owner_id=owner_id, name=name.strip(), audio_url=reference_key(profile_id),
            embedding=None, duration_sec=round(checked.speech_s, 3),
            meta={
                "status": PROCESSING, "original_key": original, "filename": filename,
                "transcript": transcript, "transcript_status": "given" if transcript else "pending",
            },
        ))
    job = VoiceAnalysisJob(
        profile_id=str(profile_id), original_key=original,
        session_id=str(session_id) if session_id else None, needs_transcript=not transcript,
    )
    try:
        services.dispatcher.voice_analysis(job)
    except Exception as exc:
        failure = AnalysisNotQueued(profile_id, f"{type(exc).__name__}: {exc}"[:300])
        with services.db() as db:
            row = db.get(VoiceProfile, profile_id)
            if row is not None:
                mark_failed(row, failure.code, failure.message)
        raise failure from exc
    return profile_id
