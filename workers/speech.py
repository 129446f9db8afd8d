"""The live speech stage: one sentence -> audio -> the browser (in order) -> storage and DB.

Storage and the database are written *after* the chunk is handed to the sequencer, so
neither sits on the path to first audio. An HQ sentence holds the single HQ slot from
synthesis to publishing (``workers/speech_service.py``).
"""

from __future__ import annotations

import time
from typing import Any

from avatar.audio import encode_wav
from avatar.domain import ErrorCode
from avatar.events import error_payload
from avatar.jobs import SpeechJob
from avatar.metrics import observe_tts_latency
from avatar.turns import TurnState, queue_sentence, sentence_failed, settle_sentence
from workers.audio_sequencer import AudioSequencer
from workers.context import StageContext
from workers.gpu_guard import DegradeToFast
from workers.speech_service import SpeechService, Spoken


def _sequencer(ctx: StageContext) -> AudioSequencer:
    return AudioSequencer(ctx.services.redis, ctx.services.emitter)


def run_speech(ctx: StageContext, job: SpeechJob) -> dict[str, Any]:
    """Raises ``SlotBusy`` (HQ: retry later), ``DegradeToFast`` (HQ: speak it fast instead)
    and whatever the engine raises (the task reports it)."""
    queue_ms = job.queue_ms()
    services = ctx.services
    state = TurnState(services.redis, job.turn_id)
    generation, interrupted = state.standing()
    if generation != job.generation:
        return {"skipped": "stale generation"}  # the reply was restarted; this sentence is gone
    if interrupted:
        return {"skipped": "interrupted"}  # the user spoke over this reply (barge-in)

    # The per-hop profile (TurnState.path), for the turn's first sentence: written with the
    # first_audio mark, after the chunk is published.
    path = {**job.path, "speech_started": time.time()}
    speech = SpeechService(ctx)
    voice = speech.voice(job.voice_profile_id)
    # The session's style hint goes to whichever tier speaks: CosyVoice's instruct path in HQ,
    # F5's and lite's rate (and lite's pitch range) in the fast tier.
    style = job.style

    def publish(spoken: Spoken) -> tuple[bytes, list[int]]:
        clip = spoken.clip
        path["synthesized"] = time.time()
        wav = encode_wav(clip.samples, clip.sample_rate)
        path["encoded"] = time.time()
        meta: dict[str, Any] = {
            "duration_ms": round(clip.duration_s * 1000.0, 1), "text": job.text,
            "engine": spoken.engine, "mode": job.synth_mode.value,
            "synthesis_ms": round(spoken.synthesis_ms, 1), "queue_ms": queue_ms,
        }
        if style:
            meta["style"] = style
        emitted = _sequencer(ctx).deliver(
            session_id=job.session_id, turn_id=job.turn_id, mode=job.mode.value,
            generation=job.generation, seq=job.seq, audio=wav, meta=meta,
            # a barge-in while this sentence was being synthesised: nothing is published
            unless_interrupted=state.key("interrupted"),
        )
        path["published"] = time.time()
        return wav, emitted

    with speech.holding(job.synth_mode) as held:  # HQ: the single slot, for this sentence
        spoken = held.speak(job.text, voice, style)
        observe_tts_latency(spoken.synthesis_ms / 1000.0, mode=job.synth_mode.value, engine=spoken.engine)
        if not held.is_current():  # lost the slot meanwhile: a late publish is refused
            return {"skipped": "lost the HQ slot", "seq": job.seq}
        wav, emitted = publish(spoken)
    if spoken.notice:  # e.g. the GPU had no memory: a CPU fallback engine spoke this sentence
        ctx.services.emitter.error(job.session_id, *spoken.notice, job.trace_id, turn_id=job.turn_id, seq=job.seq)
    if emitted and emitted[0] == 0:
        state.mark("first_audio_ms", job.accepted_at, path=path)

    # --- off the path to first audio ---------------------------------------------------
    generation, interrupted = state.standing()
    if generation != job.generation:
        return {"skipped": "reply restarted while speaking"}
    if not emitted and interrupted:
        return {"skipped": "interrupted"}
    with services.db() as db:
        key = speech.store_sentence(
            db, turn_id=job.turn_id, mode=job.synth_mode, seq=job.seq, text=job.text, spoken=spoken,
            voice_profile_id=job.voice_profile_id, wav=wav,
        )
    if job.seq == 0:  # off the path: what storing the first sentence (WAV file + row) took
        state.record_path({"stored": time.time()})
    settle_sentence(services, state, session_id=job.session_id, generation=job.generation, seq=job.seq)
    return {"turn_id": job.turn_id, "seq": job.seq, "synthesis_ms": spoken.synthesis_ms, "key": key}


def speech_failed(ctx: StageContext, job: SpeechJob, code: ErrorCode, message: str, fix: str = "") -> None:
    """A sentence that cannot be spoken: a tombstone keeps the later ones flowing, the
    session hears about it, and the turn ends in ``error``."""
    state = TurnState(ctx.services.redis, job.turn_id)
    if state.generation() != job.generation:
        return
    extra = {"fix": fix} if fix else {}
    _sequencer(ctx).deliver(
        session_id=job.session_id, turn_id=job.turn_id, mode=job.mode.value,
        generation=job.generation, seq=job.seq, audio=None,
        meta={"error": error_payload(code, message, job.trace_id, **extra)},
    )
    sentence_failed(ctx.services, state, session_id=job.session_id, trace_id=job.trace_id,
                    generation=job.generation, seq=job.seq, code=code, message=message)


def speak_fast_instead(ctx: StageContext, job: SpeechJob, exc: DegradeToFast) -> dict[str, Any]:
    """An HQ sentence the HQ tier cannot speak (breaker open, VRAM exhausted): the session is
    told why, and the fast tier speaks it in its place in the HQ order."""
    ctx.services.emitter.error(job.session_id, exc.code, exc.message, job.trace_id, turn_id=job.turn_id, seq=job.seq)
    queue_sentence(ctx.services, job.model_copy(update={"degraded": True}))
    return {"turn_id": job.turn_id, "seq": job.seq, "degraded": exc.code}
