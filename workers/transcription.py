"""The transcription stage: an utterance cut by the API's VAD -> text -> the turn pipeline.

A *final* pass starts the turn exactly as a typed message does (store the turn, queue the
reply), tells the browser (``transcription_final``), then, off the path to the reply, stores
the utterance as a 16 kHz WAV, writes its transcriptions row and queues the prosody job.
A *partial* pass runs while the user still speaks; at most one is in flight per session,
and a partial that finishes after its utterance's final is dropped.

Whisper invents text on silence and noise: utterances with a high no-speech probability,
a very low confidence, nothing legible or a known subtitle phrase are rejected
(``transcription_rejected {reason}``) and start nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from avatar.audio import encode_wav
from avatar.conversation import ConversationError, log_event
from avatar.db import Transcription
from avatar.domain import ErrorCode
from avatar.events import TRANSCRIPTION_FINAL, TRANSCRIPTION_PARTIAL, TRANSCRIPTION_REJECTED
from avatar.jobs import ProsodyJob, TranscriptionJob
from avatar.metrics import observe_asr_rtf
from avatar.settings import Settings
from avatar.storage.keys import raw_input_key
from avatar.text_zh import hallucination_in
from avatar.turns import AcceptedTurn, QueueUnavailable, SpokenAt, resume_turn, start_turn
from avatar.utterances import UTTERANCE_TTL_S, load_pcm, partial_inflight_key, utterance_key
from workers.context import StageContext
from workers.engines.asr.base import SAMPLE_RATE, Transcript

log = logging.getLogger(__name__)


REJECT_MESSAGES = {
    "empty": "沒有聽到可辨識的語音（no recognisable speech）",
    "no_speech": "聽起來像是靜音或雜音（sounds like silence or noise）",
    "low_confidence": "辨識信心過低，請再說一次（recognition confidence too low; please repeat）",
    "hallucination": "疑似辨識幻覺，已忽略（looks like an ASR hallucination; ignored）",
    "expired": "語音資料已逾時（utterance audio expired）",
}


def rejection_reason(transcript: Transcript, settings: Settings) -> str | None:
    if not transcript.text.strip():
        return "empty"
    if transcript.no_speech_prob > settings.asr_max_no_speech_prob:
        return "no_speech"
    if hallucination_in(transcript.text):
        return "hallucination"
    if transcript.confidence < settings.asr_min_confidence:
        return "low_confidence"
    return None


def run_partial(ctx: StageContext, job: TranscriptionJob) -> dict[str, Any]:
    client = ctx.services.redis
    try:
        if client.exists(utterance_key(job.utterance_id, "final")):
            return {"skipped": "utterance already final"}
        pcm = load_pcm(client, job.audio_ref)
        if pcm is None:
            return {"skipped": "audio expired"}
        transcript = ctx.engines.asr().transcribe(pcm.astype(np.float32) / 32768.0, partial=True)
        if client.exists(utterance_key(job.utterance_id, "final")) or not transcript.text:
            return {"skipped": "late or empty"}
        partials = utterance_key(job.utterance_id, "partials")
        previous = client.lindex(partials, -1)
        if previous is not None and json.loads(previous)["text"] == transcript.text:
            # A pause mid-utterance yields the same words again: the client already shows them.
            return {"skipped": "unchanged"}
        payload = {
            "utterance_id": job.utterance_id, "text": transcript.text,
            "confidence": transcript.confidence, "is_final": False,
        }
        ctx.services.emitter.emit(TRANSCRIPTION_PARTIAL, payload, job.session_id)
        client.rpush(partials, json.dumps({
            "text": transcript.text, "confidence": transcript.confidence,
            "audio_ms": round(len(pcm) * 1000 / SAMPLE_RATE),
        }, ensure_ascii=False))
        client.expire(partials, UTTERANCE_TTL_S)
        return {"utterance_id": job.utterance_id, "chars": len(transcript.text)}
    finally:
        client.delete(job.audio_ref, partial_inflight_key(job.session_id))


def run_final(ctx: StageContext, job: TranscriptionJob) -> dict[str, Any]:
    services, settings = ctx.services, ctx.settings
    client, emitter = services.redis, services.emitter
    queue_ms = job.queue_ms()
    client.set(utterance_key(job.utterance_id, "final"), 1, ex=UTTERANCE_TTL_S)  # late partials drop
    pcm = load_pcm(client, job.audio_ref)
    if pcm is None:
        return _reject(ctx, job, "expired")
    started = time.perf_counter()
    transcript = ctx.engines.asr().transcribe(pcm.astype(np.float32) / 32768.0)
    asr_s = time.perf_counter() - started
    asr_ms = round(asr_s * 1000.0, 1)
    observe_asr_rtf(asr_s, transcript.duration_s or len(pcm) / SAMPLE_RATE,
                    model=Path(settings.active_asr_model).name)
    reason = rejection_reason(transcript, settings)
    if reason:
        return _reject(ctx, job, reason, transcript)

    # The same start as a typed message: store the turn, queue its reply.
    spoken = _spoken(job)
    accepted_at = spoken.ended  # latencies count from the end of speech
    try:
        accepted = start_turn(services, uuid.UUID(job.session_id), transcript.text, accepted_at=accepted_at,
                              spoken=spoken)
    except ConversationError as exc:
        emitter.error(job.session_id, exc.code, exc.message, utterance_id=job.utterance_id)
        client.delete(job.audio_ref)
        return {"refused": exc.code}
    except QueueUnavailable as exc:
        _queue_unavailable(ctx, job, exc)
        client.delete(job.audio_ref)
        return {"refused": ErrorCode.QUEUE_UNAVAILABLE.value}
    turn_id = str(accepted.turn_id)
    transcription_id = str(uuid.uuid4())
    latency_ms = round((time.time() - accepted_at) * 1000.0, 1)
    emitter.emit(TRANSCRIPTION_FINAL, {
        "transcription_id": transcription_id, "turn_id": turn_id, "utterance_id": job.utterance_id,
        "text": transcript.text, "confidence": transcript.confidence, "latency_ms": latency_ms,
        "asr_ms": asr_ms, "queue_ms": queue_ms, "is_final": True,
        # the turn's whole message, and the turn it replaced when this utterance continued one
        "turn_text": accepted.text, "continues_turn_id": str(accepted.continues) if accepted.continues else None,
    }, job.session_id)

    # --- off the path to the reply: the WAV, the row, the prosody job ------------------------
    key = raw_input_key(job.session_id, turn_id, datetime.now(UTC))
    services.storage.put(key, encode_wav(pcm.astype(np.float32) / 32768.0, SAMPLE_RATE), content_type="audio/wav")
    partials = [json.loads(p) for p in client.lrange(utterance_key(job.utterance_id, "partials"), 0, -1)]
    with services.db() as db:
        db.add(Transcription(
            transcription_id=uuid.UUID(transcription_id), turn_id=accepted.turn_id,
            final_text=transcript.text, confidence=transcript.confidence, latency_ms=latency_ms,
            audio_url=key,
            partial_results={
                "partials": partials, "end_reason": job.end_reason, "utterance_id": job.utterance_id,
                "no_speech_prob": transcript.no_speech_prob, "duration_s": round(transcript.duration_s, 3),
                "engine": settings.asr_engine, "model": settings.active_asr_model, "asr_ms": asr_ms,
            },
        ))
    client.delete(job.audio_ref, utterance_key(job.utterance_id, "partials"))
    services.dispatcher.prosody(ProsodyJob(
        session_id=job.session_id, turn_id=turn_id, transcription_id=transcription_id,
        trace_id=str(accepted.trace_id), audio_key=key, transcript=transcript.text,
        speech_ended_at=accepted_at,
    ))
    return {"turn_id": turn_id, "transcription_id": transcription_id, "latency_ms": latency_ms, "key": key}


def _spoken(job: TranscriptionJob) -> SpokenAt:
    """When the utterance was spoken: it decides whether it continues the session's latest
    turn (avatar/turns/start.py)."""
    ended = job.speech_ended_at or time.time()
    return SpokenAt(job.speech_started_at or ended, ended)


def _reject(ctx: StageContext, job: TranscriptionJob, reason: str,
            transcript: Transcript | None = None) -> dict[str, Any]:
    services = ctx.services
    resumed = _resume_stopped_turn(ctx, job)
    resumed_id = str(resumed.turn_id) if resumed else None
    services.emitter.emit(TRANSCRIPTION_REJECTED, {
        "utterance_id": job.utterance_id, "reason": reason, "message": REJECT_MESSAGES[reason],
        "text": transcript.text if transcript else "",
        "confidence": transcript.confidence if transcript else 0.0,
        # The message this utterance's barge-in stopped before any of its reply was heard,
        # asked again as a new turn (the page moves the stopped turn onto it).
        "resumed_turn_id": resumed_id,
        "continues_turn_id": str(resumed.continues) if resumed else None,
        "turn_text": resumed.text if resumed else None,
    }, job.session_id)
    with services.db() as db:
        log_event(db, "INFO", f"utterance rejected: {reason}", None, session_id=job.session_id,
                  utterance_id=job.utterance_id, text=transcript.text if transcript else "",
                  resumed_turn_id=resumed_id)
    services.redis.delete(job.audio_ref, utterance_key(job.utterance_id, "partials"))
    return {"rejected": reason, "resumed_turn_id": resumed_id}


def _resume_stopped_turn(ctx: StageContext, job: TranscriptionJob) -> AcceptedTurn | None:
    """A rejected utterance said nothing new: if its barge-in stopped the latest turn unheard,
    that message gets its reply after all (avatar/turns/start.py, ``resume_turn``)."""
    spoken = _spoken(job)
    try:
        return resume_turn(ctx.services, uuid.UUID(job.session_id), spoken, accepted_at=spoken.ended)
    except ConversationError:
        return None  # the session ended meanwhile: there is nobody to answer
    except QueueUnavailable as exc:
        _queue_unavailable(ctx, job, exc)
        return None


def _queue_unavailable(ctx: StageContext, job: TranscriptionJob, exc: QueueUnavailable) -> None:
    """The turn was stored but its reply could not be queued (it is closed as an error)."""
    ctx.services.emitter.error(job.session_id, ErrorCode.QUEUE_UNAVAILABLE,
                               "任務佇列暫時無法使用，請稍後再試（queue unavailable）",
                               utterance_id=job.utterance_id, turn_id=exc.turn_id)


def transcription_failed(ctx: StageContext, job: TranscriptionJob, code: ErrorCode, message: str, *,
                         fix: str = "") -> None:
    extra: dict[str, Any] = {"utterance_id": job.utterance_id}
    if fix:
        extra["fix"] = fix
    ctx.services.emitter.error(job.session_id, code, message, **extra)
    ctx.services.redis.delete(job.audio_ref)

