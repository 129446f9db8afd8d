"""Domain vocabulary shared by the API, the job contracts and the workers."""

from __future__ import annotations

from enum import StrEnum


class Lane(StrEnum):
    """A Celery queue, each served by its own dedicated workers."""

    LLM = "llm"
    TTS_FAST = "tts_fast"
    TTS_HQ = "tts_hq"
    ASR = "asr"
    PROSODY = "prosody"
    BATCH = "batch"  # re-synthesis in the HQ tier (the HQ engine's environment)
    BATCH_FAST = "batch_fast"  # re-synthesis in the fast tier (the fast engine's environment)


LANES: tuple[str, ...] = tuple(lane.value for lane in Lane)


class TTSMode(StrEnum):
    FAST = "fast"
    HQ = "hq"
    BOTH = "both"  # fast first, then the whole turn re-rendered in HQ in the background


class SessionStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    ERROR = "error"


class TurnStatus(StrEnum):
    # The reply worker keeps the database off the path to first token, so a turn stays
    # ``pending`` while its reply streams; the live state is in the events.
    PENDING = "pending"  # stored; reply queued or being written
    SPEAKING = "speaking"  # text complete, audio still being synthesised/stored
    COMPLETED = "completed"
    ERROR = "error"
    INTERRUPTED = "interrupted"


OPEN_TURN_STATUSES = (TurnStatus.PENDING,)


class ErrorCode(StrEnum):
    """Codes of the ``error`` event; the message always says what to do next."""

    BAD_REQUEST = "BAD_REQUEST"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    UNAUTHORIZED = "UNAUTHORIZED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    TURN_IN_PROGRESS = "TURN_IN_PROGRESS"
    ENGINE_UNAVAILABLE = "ENGINE_UNAVAILABLE"
    ENGINE_FAILED = "ENGINE_FAILED"
    QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"  # Redis or the broker unreachable (REST: 503)
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"  # the database unreachable (REST: 503)
    VRAM_EXHAUSTED = "VRAM_EXHAUSTED"  # GPU out of memory: the sentence was degraded to fast
    HQ_UNAVAILABLE = "HQ_UNAVAILABLE"  # HQ breaker open: degraded to fast
    BUSY = "BUSY"  # admission control: too many active sessions; retry_after_s says when
    STALE_TURN = "STALE_TURN"  # a reply that never finished, closed when a new message came
    BAD_AUDIO = "BAD_AUDIO"  # a microphone frame that is not PCM16 mono 16 kHz
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"  # a microphone frame longer than AVATAR_AUDIO_MAX_FRAME_MS
    RATE_LIMITED = "RATE_LIMITED"  # more microphone frames per second than allowed
    VOICE_NOT_READY = "VOICE_NOT_READY"  # the voice profile is still being analysed (or failed)
    VOICE_DELETED = "VOICE_DELETED"  # the session's voice was deleted: replies use the default voice
    INTERNAL = "INTERNAL"


class Priority:
    """Redis broker priorities: 0 is the highest (values are clamped to 0..9).

    A turn's first sentence jumps ahead of later sentences of other turns, so every
    session hears something quickly; re-synthesis in batch waits behind live turns.
    """

    FIRST_SENTENCE = 0
    SECOND_SENTENCE = 1
    LATER_SENTENCE = 3
    REPLY = 2
    HQ_UPGRADE = 6
    ASR_FINAL = 0  # end of speech: the reply waits for this transcript
    ASR_PARTIAL = 4  # live partials: dropped when stale, never ahead of a final
    PROSODY = 5
    VOICE_ANALYSIS = 3  # a user waits for the voice they just uploaded
    BATCH = 9

    @staticmethod
    def for_sentence(seq: int) -> int:
        if seq == 0:
            return Priority.FIRST_SENTENCE
        if seq == 1:
            return Priority.SECOND_SENTENCE
        return Priority.LATER_SENTENCE
