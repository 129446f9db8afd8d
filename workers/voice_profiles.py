"""Voice profiles: an uploaded sample checked, cleaned, measured and stored; and the
reference a speech worker hands to its engine.

An upload is decoded (PyAV: wav, mp3, m4a, ogg, webm, flac), trimmed of leading and
trailing silence, checked (speech length, silence share, clipping), loudness-normalised and
resampled to ``voice_reference_sr``. Stored: the original bytes and the normalised WAV
(``voice_profiles/{id}/original.{ext}`` and ``.../reference.wav``), the 256-dim resemblyzer
embedding, the prosody profile (F0 median/range, energy dynamics: what emotion transfer
carries) and the ``lite`` engine's fitted adaptation, so the first cloned sentence does not
pay for fitting.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avatar.db import VoiceProfile, session_scope
from avatar.settings import Settings
from avatar.storage import get_storage
from avatar.storage.keys import voice_profile_key
from workers.audio_io import (
    UndecodableAudio,
    active_frames,
    clipped_fraction,
    decode_audio,
    normalise_loudness,
    trim_silence,
)
from workers.engines.tts.base import VoiceReference

ACCEPTED_EXTENSIONS = ("wav", "mp3", "m4a", "mp4", "ogg", "oga", "opus", "webm", "flac")
ANALYSIS_SR = 16_000
MAX_SILENCE_SHARE = 0.75  # more silent frames than this (before trimming): "mostly silence"
MAX_CLIPPED_SHARE = 0.01  # samples inside full-scale runs


class VoiceRejected(ValueError):
    """A bad upload: ``code`` for clients, ``message`` in Traditional Chinese + English."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class ProcessedVoice:
    reference: np.ndarray  # normalised, trimmed, at ``sample_rate``
    sample_rate: int
    duration_s: float
    embedding: list[float]
    prosody: dict[str, float]
    adaptation: dict[str, Any] = field(default_factory=dict)


def check_size(size: int, settings: Settings) -> None:
    if size > settings.voice_upload_max_mb * 1024 * 1024:
        raise VoiceRejected(
            "VOICE_TOO_LARGE",
            f"檔案過大：上限 {settings.voice_upload_max_mb:g} MB（file too large）", status=413,
        )
    if size == 0:
        raise VoiceRejected("VOICE_UNDECODABLE", "檔案是空的（empty file）")


def process_upload(data: bytes, settings: Settings) -> ProcessedVoice:
    """Decode, check and measure an uploaded sample; raises :class:`VoiceRejected`."""
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
    trimmed = trim_silence(samples, ANALYSIS_SR)
    speech_s = len(trimmed) / ANALYSIS_SR
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
    # The reference at the engines' rate, from the full-rate decode (not the 16 kHz copy).
    full = decode_audio(data, settings.voice_reference_sr)
    reference = normalise_loudness(trim_silence(full, settings.voice_reference_sr), settings.voice_reference_sr)

    from workers.engines.tts.lite import fit_adaptation
    from workers.voice_analysis import prosody_profile, speaker_embedding

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


def extension_of(filename: str | None) -> str:
    ext = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else "bin"
    return ext if ext in ACCEPTED_EXTENSIONS else "bin"


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def local_reference_path(settings: Settings, profile_id: str) -> Path:
    return settings.data_dir / "cache" / "voices" / profile_id / "reference.wav"


def load_voice_reference(profile_id: str | None, settings: Settings) -> VoiceReference | None:
    """The reference for a speech worker: the row, and the normalised WAV copied from
    storage (local disk or MinIO) into a local cache once. None: no such profile (deleted
    meanwhile), and the sentence is spoken without cloning."""
    if not profile_id:
        return None
    with session_scope() as db:
        row = db.get(VoiceProfile, uuid.UUID(profile_id))
        if row is None:
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


def reference_key(profile_id: str | uuid.UUID) -> str:
    return voice_profile_key(profile_id, "reference.wav")
