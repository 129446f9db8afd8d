"""Cloned speech: text normalised for zh-TW before any engine, and the HQ rendering of a
whole turn (mode ``both``) that replaces the fast audio for replays.

Mode ``both``: the reply worker sends every sentence to the fast lane as usual and, once
the reply text is complete, one :class:`HQTurnJob` to the ``tts_hq`` lane (low priority).
That job renders the turn's sentences one after another inside the single HQ slot, stores
them (``synthesized_audios`` rows in mode ``hq`` plus one whole-turn WAV) and tells the
browser ``hq_audio_ready {turn_id, url, duration_ms}``. If HQ fails, times out or its
breaker is open, the turn keeps its fast audio and the browser gets a notice
(``HQ_UNAVAILABLE``, 高品質模型暫時不可用). The fast lane never waits for any of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select

from avatar.audio import encode_wav
from avatar.db import ConversationTurn, SynthesizedAudio, session_scope
from avatar.domain import TTSMode
from avatar.events import HQ_AUDIO_READY, get_emitter
from avatar.redis import get_redis
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from avatar.storage.keys import synthesized_key
from workers.engines.registry import get_tts_engine
from workers.engines.tts.gpu_host import evict_idle_models
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference
from workers.engines.tts.normalize_zh import normalize_zh
from workers.hq_guard import hq_breaker, hq_slot, synthesize_hq
from workers.turn_state import TurnState
from workers.voice_profiles import load_voice_reference

log = logging.getLogger(__name__)

HQ_UNAVAILABLE_MESSAGE = "高品質模型暫時不可用，本回合保留快速語音（HQ model unavailable; the fast audio is kept）"


class HQTurnJob(BaseModel):
    """Render a whole turn in the HQ tier (mode ``both``)."""

    session_id: str
    turn_id: str
    trace_id: str
    generation: int = Field(ge=1)
    sentences: list[str] = Field(min_length=1)
    voice_profile_id: str | None = None
    accepted_at: float


def speak(engine: TTSEngine, text: str, voice: VoiceReference | None, style: str | None = None) -> SynthesizedClip:
    """Every engine hears the same normalised text (numbers, dates, acronyms written out)."""
    return engine.synthesize(normalize_zh(text), voice=voice, style=style)


def join_clips(clips: list[SynthesizedClip], gap_s: float = 0.12) -> SynthesizedClip:
    rate = clips[0].sample_rate
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    for clip in clips:
        samples = clip.samples
        if clip.sample_rate != rate:
            from workers.audio_io import resample

            samples = resample(samples, clip.sample_rate, rate)
        parts += [samples.astype(np.float32), gap]
    return SynthesizedClip(samples=np.concatenate(parts[:-1]), sample_rate=rate)


def turn_audio_key(mode: str, turn_id: str, ts: datetime) -> str:
    """The whole turn as one file, beside its sentences (``synthesized/{mode}/...``)."""
    return synthesized_key(mode, turn_id, 0, ts).replace(f"{turn_id}_0_", f"{turn_id}_turn_")  # type: ignore[arg-type]


def store_sentence(
    db: Any, settings: Settings, *, turn_id: str, mode: str, seq: int, text: str, clip: SynthesizedClip,
    engine: str, synthesis_ms: float, voice_profile_id: str | None,
) -> bool:
    """One sentence's audio and row; False (nothing written) if it is already stored."""
    exists = db.scalar(select(SynthesizedAudio.audio_id).where(
        SynthesizedAudio.turn_id == uuid.UUID(turn_id), SynthesizedAudio.mode == mode,
        SynthesizedAudio.seq == seq,
    ))
    if exists is not None:
        return False
    key = synthesized_key(mode, turn_id, seq, datetime.now(UTC))  # type: ignore[arg-type]
    get_storage(settings).put(key, encode_wav(clip.samples, clip.sample_rate), content_type="audio/wav")
    db.add(SynthesizedAudio(
        turn_id=uuid.UUID(turn_id), voice_profile_id=uuid.UUID(voice_profile_id) if voice_profile_id else None,
        mode=mode, seq=seq, text=text, engine=engine, audio_url=key, duration_sec=clip.duration_s,
        synthesis_time_ms=synthesis_ms,
    ))
    return True


def render_hq_turn(job: HQTurnJob, *, settings: Settings | None = None) -> dict[str, Any]:
    """Raises ``SlotBusy`` (retry later) and anything the engine raises (the task turns
    it into the HQ notice)."""
    settings = settings or get_settings()
    client = get_redis(settings.redis_url)
    if TurnState(client, job.turn_id).generation() != job.generation:
        return {"skipped": "stale generation"}
    engine = get_tts_engine(TTSMode.HQ, settings)
    voice = load_voice_reference(job.voice_profile_id, settings)
    breaker = hq_breaker(client)
    with hq_slot(client, settings) as fence:
        started_at = time.time()
        clips: list[tuple[SynthesizedClip, float]] = []
        for text in job.sentences:
            t0 = time.perf_counter()
            clip = synthesize_hq(lambda text=text: speak(engine, text, voice), breaker,  # type: ignore[misc]
                                 evict_idle=lambda: evict_idle_models(settings))
            clips.append((clip, (time.perf_counter() - t0) * 1000.0))
        if not fence.is_current():  # lost the slot meanwhile: a late publish is refused
            return {"skipped": "lost the HQ slot"}
        done_at = time.time()
    whole = join_clips([c for c, _ in clips])
    key = turn_audio_key(TTSMode.HQ.value, job.turn_id, datetime.now(UTC))
    storage = get_storage(settings)
    storage.put(key, encode_wav(whole.samples, whole.sample_rate), content_type="audio/wav")
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(job.turn_id))
        if turn is None:
            return {"skipped": "turn deleted"}
        for seq, (text, (clip, ms)) in enumerate(zip(job.sentences, clips, strict=True)):
            store_sentence(db, settings, turn_id=job.turn_id, mode=TTSMode.HQ.value, seq=seq, text=text,
                           clip=clip, engine=engine.name, synthesis_ms=ms, voice_profile_id=job.voice_profile_id)
        turn.latency = {
            **(turn.latency or {}), "hq_audio_key": key, "hq_engine": engine.name,
            "hq_started_at": started_at, "hq_done_at": done_at,
            "hq_ready_ms": round((done_at - job.accepted_at) * 1000.0, 1),
        }
    duration_ms = round(whole.duration_s * 1000.0, 1)
    get_emitter(settings).emit(
        HQ_AUDIO_READY, {"turn_id": job.turn_id, "url": storage.url(key), "duration_ms": duration_ms},
        job.session_id,
    )
    return {"turn_id": job.turn_id, "key": key, "duration_ms": duration_ms}


def hq_turn_failed(job: HQTurnJob, reason: str, *, settings: Settings | None = None) -> None:
    """The turn keeps its fast audio; the session is told once."""
    settings = settings or get_settings()
    log.warning("HQ rendering of turn %s failed: %s", job.turn_id, reason)
    get_emitter(settings).error(
        job.session_id, "HQ_UNAVAILABLE", HQ_UNAVAILABLE_MESSAGE, job.trace_id, turn_id=job.turn_id,
        mode="hq", reason=reason[:300],
    )
