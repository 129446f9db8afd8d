"""Microphone audio over Socket.IO: frames in, VAD turn-taking, utterances to the ``asr`` lane.

``audio_chunk`` carries PCM16 mono 16 kHz, either as a binary attachment (bytes, or
``{data: bytes, sr}``) or in the seed's JSON form ``{data: base64, sr, timestamp}``. Each
socket gets a :class:`MicStream`: a rate limit (token bucket), a Silero :class:`TurnDetector`
whose buffer is bounded by the maximum utterance length, and the last ``playback_state`` the
client reported (for barge-in). ``audio_end`` closes the utterance at once (push-to-talk).

Bad frames get an ``error`` (BAD_AUDIO, FRAME_TOO_LARGE, RATE_LIMITED, UNAUTHORIZED,
SESSION_NOT_FOUND) and are dropped; the session goes on. The handlers are registered through
the :class:`~api.socket_guard.SocketGuard`, so each one answers whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import socketio
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from api.socket_guard import SocketGuard
from avatar.conversation import parse_uuid
from avatar.db import Session
from avatar.domain import ErrorCode, SessionStatus
from avatar.events import (
    AUDIO_CHUNK_IN,
    AUDIO_END,
    PLAYBACK_STATE,
    TRANSCRIPTION_REJECTED,
    VAD_STATE,
    session_room,
)
from avatar.jobs import TranscriptionJob
from avatar.services import Services
from avatar.turns import Playback, interrupt_active_turn
from avatar.utterances import partial_inflight_key, store_pcm, utterance_key
from avatar.vad import SAMPLE_RATE, TurnDetector, VADEvent

log = logging.getLogger(__name__)

PARTIAL_MIN_SPEECH_MS = 400  # no partial for the first syllable or two
BARGE_IN_RECHECK_S = 0.5  # while speaking, how often to look again for a reply to interrupt
BARGE_IN_RECHECK_WITHIN_S = 30.0  # ... when an earlier utterance ended less than this ago


class FrameError(Exception):
    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def parse_frame(data: Any, own_session: str, max_bytes: int) -> bytes:
    """The PCM16 bytes of one ``audio_chunk``, or FrameError saying what is wrong."""
    sr: Any = SAMPLE_RATE
    if isinstance(data, (bytes, bytearray, memoryview)):
        pcm: Any = bytes(data)
    elif isinstance(data, dict):
        claimed = data.get("session_id")
        if claimed is not None and str(claimed) != own_session:
            raise FrameError(ErrorCode.UNAUTHORIZED, "不能傳送其他對話的音訊（frame for another session refused）")
        sr = data.get("sr", data.get("sample_rate", SAMPLE_RATE))
        pcm = data.get("data", data.get("audio"))
        if isinstance(pcm, str):
            if len(pcm) > max_bytes * 4 // 3 + 4:
                raise FrameError(ErrorCode.FRAME_TOO_LARGE, _too_large(len(pcm) * 3 // 4, max_bytes), limit=max_bytes)
            try:
                pcm = base64.b64decode(pcm, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise FrameError(ErrorCode.BAD_AUDIO, "audio_chunk 的 data 不是有效的 base64（invalid base64）") from exc
        elif isinstance(pcm, (bytearray, memoryview)):
            pcm = bytes(pcm)
        if not isinstance(pcm, bytes):
            raise FrameError(ErrorCode.BAD_AUDIO, "audio_chunk 需要 data：PCM16 位元組或 base64（missing audio data）")
    else:
        raise FrameError(ErrorCode.BAD_AUDIO, "audio_chunk 需要二進位 PCM16 或 {data, sr}（malformed audio frame）")
    if not _is_integer(sr) or int(sr) != SAMPLE_RATE:
        raise FrameError(
            ErrorCode.BAD_AUDIO, f"取樣率須為 16000 Hz，收到 {sr!r}（sample rate must be 16 kHz mono PCM16）",
            limit=SAMPLE_RATE,
        )
    if len(pcm) > max_bytes:
        raise FrameError(ErrorCode.FRAME_TOO_LARGE, _too_large(len(pcm), max_bytes), limit=max_bytes)
    if not pcm or len(pcm) % 2:
        raise FrameError(ErrorCode.BAD_AUDIO, f"PCM16 音訊長度須為偶數位元組，收到 {len(pcm)}（odd byte count）")
    return pcm


def _is_integer(value: Any) -> bool:
    """A whole number: an int, or a finite float without a fraction (JSON has no int type)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())


class PlaybackReport(BaseModel):
    """``playback_state {turn_id, state, played_seq, played_ms}``: a sentence index and a
    finite, non-negative offset into it (NaN or Infinity would poison the heard text)."""

    model_config = ConfigDict(extra="ignore")
    turn_id: str | None = None
    state: Literal["playing", "idle"]
    played_seq: int = Field(0, ge=0)  # lax: 3.0 is 3; 2.5, NaN and Infinity are refused
    played_ms: FiniteFloat = Field(0.0, ge=0.0)


def _too_large(size: int, limit: int) -> str:
    return f"音訊片段過大：{size} 位元組，上限 {limit}（frame too large; send 20-100 ms frames）"


@dataclass
class MicStream:
    session_id: str
    detector: TurnDetector
    tokens: float
    refilled: float = field(default_factory=time.monotonic)
    utterance_id: str | None = None
    utterance_started_at: float = 0.0  # unix time the utterance in progress began
    heard: bool = False  # speech since the last audio_end
    barged: bool = False  # this utterance already interrupted the reply
    barge_checked: float = 0.0  # monotonic time of the last look for a reply to interrupt
    last_end: float = -math.inf  # monotonic time the previous utterance ended
    last_partial: float = 0.0
    closed: bool = False
    playback: Playback = field(default_factory=Playback)

    def take_token(self, rate: float) -> bool:
        now = time.monotonic()
        self.tokens = min(rate, self.tokens + (now - self.refilled) * rate)  # burst: one second
        self.refilled = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def register_audio_stream(
    sio: socketio.AsyncServer, services: Services, guard: SocketGuard, admission: Any
) -> Callable[[str], None]:
    """Add the microphone handlers to ``sio``; returns ``forget(sid)`` for the disconnect."""
    settings = services.settings
    send_error = guard.error
    streams: dict[str, MicStream] = {}
    max_bytes = settings.audio_max_frame_ms * SAMPLE_RATE * 2 // 1000

    def session_active(session_id: str) -> bool:
        with services.db() as db:
            row = db.get(Session, parse_uuid(session_id))
            return row is not None and row.status == SessionStatus.ACTIVE

    async def stream_for(sid: str) -> MicStream | None:
        session_id = (await sio.get_session(sid) or {}).get("session_id")
        if not session_id:
            return None
        stream = streams.get(sid)
        if stream is None:
            stream = MicStream(
                session_id=session_id, tokens=settings.audio_max_frames_per_s,
                detector=TurnDetector(
                    threshold=settings.vad_threshold, min_silence_ms=settings.vad_min_silence_ms,
                    min_speech_ms=settings.vad_min_speech_ms, speech_pad_ms=settings.vad_speech_pad_ms,
                    max_utterance_s=settings.vad_max_utterance_s,
                ),
            )
            stream.closed = not await asyncio.to_thread(session_active, session_id)
            streams[sid] = stream
        return stream

    def enqueue(stream: MicStream, utterance_id: str, pcm: np.ndarray, *, partial: bool, reason: str = "",
                started_at: float = 0.0) -> None:
        client = services.redis
        if partial and not client.set(partial_inflight_key(stream.session_id), 1, nx=True, ex=10):
            return  # one partial in flight per session
        ref = utterance_key(utterance_id, f"pcm-{uuid.uuid4().hex[:8]}" if partial else "pcm")
        store_pcm(client, ref, pcm)
        services.dispatcher.transcription(TranscriptionJob(
            session_id=stream.session_id, utterance_id=utterance_id, audio_ref=ref, partial=partial,
            speech_started_at=started_at, speech_ended_at=0.0 if partial else time.time(),
            end_reason=reason or "silence",
        ))

    async def handle(sid: str, stream: MicStream, event: VADEvent) -> None:
        room = session_room(stream.session_id)
        if event.kind == "speech_start":
            if not await asyncio.to_thread(session_active, stream.session_id):  # ended meanwhile
                stream.closed = True
                await send_error(sid, ErrorCode.SESSION_NOT_FOUND, "此對話已結束，音訊不予處理（session ended）")
                return
            stream.utterance_id, stream.heard, stream.barged = uuid.uuid4().hex, True, False
            stream.barge_checked = 0.0
            # Frames arrive in real time: the onset lies as far back as the stream has run past it.
            stream.utterance_started_at = time.time() - (stream.detector.position_ms - event.at_ms) / 1000.0
            stream.last_partial = time.monotonic()
            await sio.emit(VAD_STATE, {"state": "speech_start", "at_ms": event.at_ms,
                                       "utterance_id": stream.utterance_id}, room=room)
            return
        utterance_id = stream.utterance_id or uuid.uuid4().hex
        stream.utterance_id, stream.last_end = None, time.monotonic()
        await sio.emit(VAD_STATE, {"state": "speech_end", "at_ms": event.at_ms, "reason": event.reason,
                                   "utterance_id": utterance_id}, room=room)
        verdict = await asyncio.to_thread(admission.admit, stream.session_id, sid)
        if not verdict.admitted:
            await send_error(sid, ErrorCode.BUSY, verdict.message, position=verdict.position,
                             retry_after_s=verdict.retry_after_s)
            return
        assert event.audio is not None
        await asyncio.to_thread(enqueue, stream, utterance_id, event.audio, partial=False, reason=event.reason,
                                started_at=stream.utterance_started_at)

    async def after_frame(stream: MicStream) -> None:
        detector = stream.detector
        if not detector.in_speech or stream.utterance_id is None:
            return
        speech_ms = detector.speech_ms()
        now = time.monotonic()
        if not stream.barged and speech_ms >= settings.barge_in_min_speech_ms and (
                not stream.barge_checked or now - stream.barge_checked >= BARGE_IN_RECHECK_S):
            # Looked for again while the user goes on talking, but only soon after an earlier
            # utterance: that one's turn may start only now (its transcript is slower than the
            # pause), and its reply must not talk over the rest of the message.
            interrupted = await asyncio.to_thread(interrupt_active_turn, services, stream.session_id,
                                                  stream.playback)
            stream.barge_checked = now
            stream.barged = interrupted is not None or now - stream.last_end > BARGE_IN_RECHECK_WITHIN_S
        # No partial during a pause: the utterance may be about to end, and a partial still
        # running then would hold up the final on the asr lane.
        if (speech_ms >= PARTIAL_MIN_SPEECH_MS and not detector.pausing
                and (now - stream.last_partial) * 1000 >= settings.partial_interval_ms):
            stream.last_partial = now
            audio = detector.current_utterance()
            if audio is not None:
                await asyncio.to_thread(enqueue, stream, stream.utterance_id, audio, partial=True)

    @guard.on(AUDIO_CHUNK_IN)
    async def audio_chunk(sid: str, data: Any = None) -> dict[str, Any] | None:
        stream = await stream_for(sid)
        if stream is None:
            return await send_error(sid, ErrorCode.UNAUTHORIZED, "尚未驗證的連線（not authenticated）")
        if stream.closed:
            return await send_error(sid, ErrorCode.SESSION_NOT_FOUND, "此對話已結束，音訊不予處理（session ended）")
        try:
            pcm = parse_frame(data, stream.session_id, max_bytes)
        except FrameError as exc:
            return await send_error(sid, exc.code, exc.message, event=AUDIO_CHUNK_IN, **exc.extra)
        if not stream.take_token(settings.audio_max_frames_per_s):
            return await send_error(
                sid, ErrorCode.RATE_LIMITED,
                f"音訊片段太頻繁，上限每秒 {settings.audio_max_frames_per_s:g} 個（too many frames; frame dropped）",
                limit=settings.audio_max_frames_per_s, event=AUDIO_CHUNK_IN,
            )
        for event in stream.detector.feed(np.frombuffer(pcm, dtype=np.int16)):
            if stream.closed:
                return None
            await handle(sid, stream, event)
        await after_frame(stream)
        return None

    @guard.on(AUDIO_END)
    async def audio_end(sid: str, data: Any = None) -> dict[str, Any]:
        stream = await stream_for(sid)
        if stream is None or stream.closed:
            return await send_error(sid, ErrorCode.SESSION_NOT_FOUND, "此對話已結束（session ended）")
        events = stream.detector.finish()
        for event in events:
            await handle(sid, stream, event)
        if not stream.heard:  # a push-to-talk with nothing but silence in it
            await sio.emit(TRANSCRIPTION_REJECTED, {
                "reason": "no_speech", "message": "沒有偵測到語音（no speech detected）", "text": "",
            }, room=session_room(stream.session_id))
        stream.heard = False
        return {"ok": True, "utterances": len(events)}

    @guard.on(PLAYBACK_STATE)
    async def playback_state(sid: str, data: Any = None) -> dict[str, Any]:
        stream = await stream_for(sid)
        if stream is None:
            return await send_error(sid, ErrorCode.UNAUTHORIZED, "尚未驗證的連線（not authenticated）")
        try:
            report = PlaybackReport.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors())
            return await send_error(
                sid, ErrorCode.BAD_REQUEST,
                "playback_state 需要 {turn_id, state: playing|idle, played_seq: 整數 ≥ 0, played_ms: 有限數 ≥ 0}"
                f"（malformed payload: {detail}）",
            )
        stream.playback = Playback(turn_id=str(report.turn_id or ""), state=report.state,
                                   played_seq=report.played_seq, played_ms=report.played_ms)
        return {"ok": True}

    return lambda sid: streams.pop(sid, None) and None
