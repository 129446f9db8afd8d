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
from avatar.conversation import ConversationError, accept_user_message, log_event
from avatar.db import Transcription, session_scope
from avatar.domain import ErrorCode
from avatar.events import TRANSCRIPTION_FINAL, TRANSCRIPTION_PARTIAL, TRANSCRIPTION_REJECTED, get_emitter
from avatar.metrics import observe_asr_rtf
from avatar.redis import get_redis
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from avatar.storage.keys import raw_input_key
from avatar.text_zh import hallucination_in
from tasks.jobs import ProsodyJob, TranscriptionJob
from workers.engines.asr.base import SAMPLE_RATE, Transcript
from workers.engines.registry import get_asr_engine

log = logging.getLogger(__name__)

UTTERANCE_TTL_S = 600


# --- the hand-off between the API and the asr lane (Redis keys) -------------------------------
def utterance_key(utterance_id: str, name: str) -> str:
    return f"avatar:utt:{utterance_id}:{name}"


def partial_inflight_key(session_id: str) -> str:
    return f"avatar:asr:partial-inflight:{session_id}"


def load_pcm(settings: Settings, audio_ref: str) -> np.ndarray | None:
    raw = get_redis(settings.redis_url).get(audio_ref)
    return None if raw is None else np.frombuffer(raw, dtype=np.int16)


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


def run_partial(job: TranscriptionJob, *, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    client = get_redis(settings.redis_url)
    try:
        if client.exists(utterance_key(job.utterance_id, "final")):
            return {"skipped": "utterance already final"}
        pcm = load_pcm(settings, job.audio_ref)
        if pcm is None:
            return {"skipped": "audio expired"}
        transcript = get_asr_engine(settings).transcribe(pcm.astype(np.float32) / 32768.0, partial=True)
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
        get_emitter(settings).emit(TRANSCRIPTION_PARTIAL, payload, job.session_id)
        client.rpush(partials, json.dumps({
            "text": transcript.text, "confidence": transcript.confidence,
            "audio_ms": round(len(pcm) * 1000 / SAMPLE_RATE),
        }, ensure_ascii=False))
        client.expire(partials, UTTERANCE_TTL_S)
        return {"utterance_id": job.utterance_id, "chars": len(transcript.text)}
    finally:
        client.delete(job.audio_ref, partial_inflight_key(job.session_id))


def run_final(job: TranscriptionJob, *, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    client = get_redis(settings.redis_url)
    emitter = get_emitter(settings)
    client.set(utterance_key(job.utterance_id, "final"), 1, ex=UTTERANCE_TTL_S)  # late partials drop
    pcm = load_pcm(settings, job.audio_ref)
    if pcm is None:
        return _reject(job, "expired", settings)
    started = time.perf_counter()
    transcript = get_asr_engine(settings).transcribe(pcm.astype(np.float32) / 32768.0)
    asr_s = time.perf_counter() - started
    asr_ms = round(asr_s * 1000.0, 1)
    observe_asr_rtf(asr_s, transcript.duration_s or len(pcm) / SAMPLE_RATE, model=Path(settings.asr_model).name)
    reason = rejection_reason(transcript, settings)
    if reason:
        return _reject(job, reason, settings, transcript)

    # The same pipeline as a typed message: store the turn, queue its reply.
    from tasks.llm import enqueue_reply  # the llm lane's sender (tasks import workers, not the reverse at load)

    accepted_at = job.speech_ended_at or time.time()  # latencies count from the end of speech
    try:
        with session_scope() as db:
            accepted = accept_user_message(db, uuid.UUID(job.session_id), transcript.text, settings)
    except ConversationError as exc:
        emitter.error(job.session_id, exc.code, exc.message, utterance_id=job.utterance_id)
        client.delete(job.audio_ref)
        return {"refused": exc.code}
    turn_id = str(accepted.turn_id)
    enqueue_reply(turn_id, accepted_at)
    transcription_id = str(uuid.uuid4())
    latency_ms = round((time.time() - accepted_at) * 1000.0, 1)
    emitter.emit(TRANSCRIPTION_FINAL, {
        "transcription_id": transcription_id, "turn_id": turn_id, "utterance_id": job.utterance_id,
        "text": transcript.text, "confidence": transcript.confidence, "latency_ms": latency_ms,
        "asr_ms": asr_ms, "is_final": True,
    }, job.session_id)

    # --- off the path to the reply: the WAV, the row, the prosody job ------------------------
    key = raw_input_key(job.session_id, turn_id, datetime.now(UTC))
    get_storage(settings).put(key, encode_wav(pcm.astype(np.float32) / 32768.0, SAMPLE_RATE), content_type="audio/wav")
    partials = [json.loads(p) for p in client.lrange(utterance_key(job.utterance_id, "partials"), 0, -1)]
    with session_scope() as db:
        db.add(Transcription(
            transcription_id=uuid.UUID(transcription_id), turn_id=accepted.turn_id,
            final_text=transcript.text, confidence=transcript.confidence, latency_ms=latency_ms,
            audio_url=key,
            partial_results={
                "partials": partials, "end_reason": job.end_reason, "utterance_id": job.utterance_id,
                "no_speech_prob": transcript.no_speech_prob, "duration_s": round(transcript.duration_s, 3),
                "engine": settings.asr_engine, "model": settings.asr_model, "asr_ms": asr_ms,
            },
        ))
    client.delete(job.audio_ref, utterance_key(job.utterance_id, "partials"))
    from tasks.prosody import enqueue_prosody

    enqueue_prosody(ProsodyJob(
        session_id=job.session_id, turn_id=turn_id, transcription_id=transcription_id,
        trace_id=str(accepted.trace_id), audio_key=key, transcript=transcript.text,
        speech_ended_at=accepted_at,
    ))
    return {"turn_id": turn_id, "transcription_id": transcription_id, "latency_ms": latency_ms, "key": key}


def _reject(job: TranscriptionJob, reason: str, settings: Settings, transcript: Transcript | None = None) -> dict[str, Any]:
    get_emitter(settings).emit(TRANSCRIPTION_REJECTED, {
        "utterance_id": job.utterance_id, "reason": reason, "message": REJECT_MESSAGES[reason],
        "text": transcript.text if transcript else "",
        "confidence": transcript.confidence if transcript else 0.0,
    }, job.session_id)
    with session_scope() as db:
        log_event(db, "INFO", f"utterance rejected: {reason}", None, session_id=job.session_id,
                  utterance_id=job.utterance_id, text=transcript.text if transcript else "")
    get_redis(settings.redis_url).delete(job.audio_ref, utterance_key(job.utterance_id, "partials"))
    return {"rejected": reason}


def transcription_failed(job: TranscriptionJob, code: ErrorCode, message: str, *, fix: str = "",
                         settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    extra: dict[str, Any] = {"utterance_id": job.utterance_id}
    if fix:
        extra["fix"] = fix
    get_emitter(settings).error(job.session_id, code, message, **extra)
    get_redis(settings.redis_url).delete(job.audio_ref)

