"""The speech stage: one sentence -> audio -> the browser (in order) -> storage and DB.

Storage and the database are written *after* the chunk is handed to the sequencer, so
neither sits on the path to first audio.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from avatar.audio import encode_wav
from avatar.conversation import log_event
from avatar.db import ConversationTurn, SynthesizedAudio, session_scope
from avatar.domain import ErrorCode, TTSMode
from avatar.events import error_payload, get_emitter
from avatar.metrics import observe_tts_latency
from avatar.redis import get_redis
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from avatar.storage.keys import synthesized_key
from tasks.jobs import SpeechJob
from workers.audio_sequencer import AudioSequencer
from workers.cloning import speak as speak_normalised
from workers.completion import complete_turn_if_settled
from workers.engines.registry import get_tts_engine
from workers.engines.tts.gpu_host import evict_idle_models
from workers.engines.tts.base import SynthesizedClip
from workers.hq_guard import hq_breaker, hq_slot, synthesize_hq
from workers.turn_state import TurnState
from workers.voice_profiles import load_voice_reference

log = logging.getLogger(__name__)


def _sequencer(settings: Settings) -> AudioSequencer:
    return AudioSequencer(get_redis(settings.redis_url), get_emitter(settings))


def run_speech(job: SpeechJob, *, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    state = TurnState(get_redis(settings.redis_url), job.turn_id)
    if state.generation() != job.generation:
        return {"skipped": "stale generation"}  # the reply was restarted; this sentence is gone
    if state.interrupted():
        return {"skipped": "interrupted"}  # the user spoke over this reply (barge-in)

    client = get_redis(settings.redis_url)
    # No availability pre-check per sentence: an engine that cannot run raises
    # EngineUnavailable (with its fix) from synthesize() itself.
    engine = get_tts_engine(job.synth_mode, settings)
    voice = load_voice_reference(job.voice_profile_id, settings)

    def speak() -> tuple[SynthesizedClip, float]:
        started = time.perf_counter()
        if job.synth_mode is TTSMode.HQ:
            clip = synthesize_hq(lambda: speak_normalised(engine, job.text, voice), hq_breaker(client),
                                 evict_idle=lambda: evict_idle_models(settings))
        else:
            clip = speak_normalised(engine, job.text, voice)
        elapsed = time.perf_counter() - started
        observe_tts_latency(elapsed, mode=job.synth_mode.value, engine=engine.name)
        return clip, elapsed * 1000.0

    def publish(clip: SynthesizedClip) -> tuple[bytes, list[int]]:
        wav = encode_wav(clip.samples, clip.sample_rate)
        if state.interrupted():  # barge-in while this sentence was being synthesised
            return wav, []
        emitted = _sequencer(settings).deliver(
            session_id=job.session_id, turn_id=job.turn_id, mode=job.mode.value,
            generation=job.generation, seq=job.seq, audio=wav,
            meta={
                "duration_ms": round(clip.duration_s * 1000.0, 1), "text": job.text,
                "engine": engine.name, "mode": job.synth_mode.value,
            },
        )
        return wav, emitted

    if job.synth_mode is TTSMode.HQ:
        with hq_slot(client, settings) as fence:
            clip, synthesis_ms = speak()
            if not fence.is_current():  # lost the slot meanwhile: a late publish is refused
                return {"skipped": "lost the HQ slot", "seq": job.seq}
            wav, emitted = publish(clip)
    else:
        clip, synthesis_ms = speak()
        wav, emitted = publish(clip)
    if emitted and emitted[0] == 0:
        state.mark("first_audio_ms", job.accepted_at)

    # --- off the path to first audio ---------------------------------------------------
    if state.generation() != job.generation:
        return {"skipped": "reply restarted while speaking"}
    if not emitted and state.interrupted():
        return {"skipped": "interrupted"}
    stored_mode = job.synth_mode.value
    key = synthesized_key(stored_mode, job.turn_id, job.seq, datetime.now(UTC))
    get_storage(settings).put(key, wav, content_type="audio/wav")
    with session_scope() as db:
        exists = db.scalar(
            select(SynthesizedAudio.audio_id).where(
                SynthesizedAudio.turn_id == uuid.UUID(job.turn_id),
                SynthesizedAudio.mode == stored_mode,
                SynthesizedAudio.seq == job.seq,
            )
        )
        if exists is None:  # a redelivered job must not store the sentence twice
            db.add(
                SynthesizedAudio(
                    turn_id=uuid.UUID(job.turn_id),
                    voice_profile_id=uuid.UUID(job.voice_profile_id) if job.voice_profile_id else None,
                    mode=stored_mode, seq=job.seq, text=job.text, engine=engine.name,
                    audio_url=key, duration_sec=clip.duration_s, synthesis_time_ms=synthesis_ms,
                )
            )
    if state.generation() == job.generation:
        state.settle()
        complete_turn_if_settled(state, session_id=job.session_id, settings=settings)
    return {"turn_id": job.turn_id, "seq": job.seq, "synthesis_ms": synthesis_ms, "key": key}


def speech_failed(
    job: SpeechJob, code: ErrorCode, message: str, *, settings: Settings | None = None, fix: str = ""
) -> None:
    """A sentence that cannot be spoken: a tombstone keeps the later ones flowing, the
    session hears about it, and the turn ends in ``error``."""
    settings = settings or get_settings()
    state = TurnState(get_redis(settings.redis_url), job.turn_id)
    if state.generation() != job.generation:
        return
    extra = {"fix": fix} if fix else {}
    _sequencer(settings).deliver(
        session_id=job.session_id, turn_id=job.turn_id, mode=job.mode.value,
        generation=job.generation, seq=job.seq, audio=None,
        meta={"error": error_payload(code, message, job.trace_id, **extra)},
    )
    with session_scope() as db:
        log_event(db, "ERROR", f"speech failed: {message}", uuid.UUID(job.trace_id),
                  turn_id=job.turn_id, seq=job.seq, code=str(code))
        turn = db.get(ConversationTurn, uuid.UUID(job.turn_id))
        if turn is not None and turn.error_code is None:
            turn.error_code, turn.error_message = str(code), message
    state.settle(failed=True)
    complete_turn_if_settled(state, session_id=job.session_id, settings=settings)
