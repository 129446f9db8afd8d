"""Socket.IO events: names, payload schemas, rooms, and the emitter workers use.

Workers never talk to browsers directly: they publish through python-socketio's own
write-only Redis manager, on the same channel the API's ``AsyncRedisManager`` listens to,
and the API delivers to the session's room. No hand-written relay.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import socketio
from pydantic import BaseModel, ConfigDict, Field

from avatar.domain import ErrorCode, TTSMode
from avatar.settings import Settings

log = logging.getLogger(__name__)

# client -> server
USER_MESSAGE = "user_message"
SET_TTS_MODE = "set_tts_mode"
# ``audio_chunk`` in this direction is a microphone frame (PCM16 mono 16 kHz); Socket.IO
# events are per direction, so it shares its name with the spoken reply below (the seed's).
AUDIO_CHUNK_IN = "audio_chunk"
AUDIO_END = "audio_end"  # push-to-talk released: the utterance ends now
PLAYBACK_STATE = "playback_state"  # {turn_id, state: playing|idle, played_ms, played_seq}
# server -> client
LLM_TOKEN = "llm_token"
AUDIO_CHUNK = "audio_chunk"
TURN_STARTED = "turn_started"
TURN_RESTARTED = "turn_restarted"
TURN_COMPLETE = "turn_complete"
TURN_AUDIO_COMPLETE = "turn_audio_complete"
ERROR = "error"
VAD_STATE = "vad_state"  # {state: speech_start|speech_end, at_ms}
TRANSCRIPTION_PARTIAL = "transcription_partial"  # {text, confidence, is_final: false}
TRANSCRIPTION_FINAL = "transcription_final"  # {transcription_id, turn_id, text, confidence, latency_ms}
TRANSCRIPTION_REJECTED = "transcription_rejected"  # {reason, message}
INTERRUPT = "interrupt"  # {turn_id}: barge-in; stop playing that turn
HQ_AUDIO_READY = "hq_audio_ready"  # {turn_id, url, duration_ms}
PROSODY_ANALYSIS = "prosody_analysis"  # {transcription_id, scores, quality, explanation}
VOICE_PROFILE_STATE = "voice_profile_state"  # {profile_id, status: ready|failed, code?, message?}


def session_room(session_id: str | uuid.UUID) -> str:
    return f"session:{session_id}"


class UserMessage(BaseModel):
    """``user_message {text}``; the length limit is checked by the handler (its own code)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    text: str = Field(min_length=1)


class TTSModeChoice(BaseModel):
    """``set_tts_mode {mode, voice_profile_id}``: which tier speaks this session's replies
    (``both``: fast first, then the turn's HQ rendering, announced by ``hq_audio_ready``)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    mode: TTSMode
    voice_profile_id: uuid.UUID | None = None
    # How the reply should sound (e.g. ``calm``, ``cheerful``, or a short instruction): the
    # HQ engine speaks it (CosyVoice's instruct path); ``lite`` adjusts rate and range.
    style: str | None = Field(None, max_length=200)


def error_payload(
    code: ErrorCode | str, message: str, trace_id: str | uuid.UUID | None = None, **extra: Any
) -> dict[str, Any]:
    return {"code": str(code), "message": message, "trace_id": str(trace_id or uuid.uuid4()), **extra}


class _PacketRedisManager(socketio.RedisManager):
    """python-socketio's write-only Redis manager that can also hand back, instead of
    publishing it, the message its ``emit`` builds (its own format, binary attachments and all)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._capture = threading.local()

    def _publish(self, data: Any) -> Any:
        captured = getattr(self._capture, "messages", None)
        if captured is not None:
            captured.append(self.json.dumps(data))
            return None
        return super()._publish(data)

    def message(self, event: str, data: dict[str, Any], room: str) -> str:
        self._capture.messages = captured = []
        try:
            self.emit(event, data, room=room, namespace="/")
        finally:
            self._capture.messages = None
        return captured[0]


class Emitter:
    """Publishes events to a session's room from any process (Celery workers, scripts)."""

    def __init__(self, settings: Settings) -> None:
        self._manager = _PacketRedisManager(
            settings.redis_url, channel=settings.socketio_channel, write_only=True, logger=log
        )
        self.channel: str = self._manager.channel

    def emit(self, event: str, data: dict[str, Any], session_id: str | uuid.UUID) -> None:
        self._manager.emit(event, data, room=session_room(session_id), namespace="/")

    def packet(self, event: str, data: dict[str, Any], session_id: str | uuid.UUID) -> str:
        """What :meth:`emit` would publish on :attr:`channel`, for a caller that publishes it
        itself, later (the audio sequencer's Redis script, atomically with its bookkeeping)."""
        return self._manager.message(event, data, room=session_room(session_id))

    def error(
        self,
        session_id: str | uuid.UUID,
        code: ErrorCode | str,
        message: str,
        trace_id: str | uuid.UUID | None = None,
        **extra: Any,
    ) -> None:
        self.emit(ERROR, error_payload(code, message, trace_id, **extra), session_id)
