"""Job payloads: what the API and the workers agree to put on each lane (JSON-serialisable)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from avatar.domain import TTSMode


class SpeechJob(BaseModel):
    """Speak one sentence of a turn's reply."""

    session_id: str
    turn_id: str
    trace_id: str
    generation: int = Field(ge=1)  # the reply attempt this sentence belongs to
    seq: int = Field(ge=0)  # position in the reply: audio is delivered in this order
    text: str = Field(min_length=1)
    mode: TTSMode = TTSMode.FAST
    voice_profile_id: str | None = None
    accepted_at: float  # unix time the API accepted the user's message
    # An HQ sentence re-routed to the fast engine (VRAM exhausted, HQ breaker open): it keeps
    # its place in the HQ order but is synthesised, stored and labelled as ``fast``.
    degraded: bool = False

    @property
    def synth_mode(self) -> TTSMode:
        return TTSMode.FAST if self.degraded else self.mode


class ProsodyJob(BaseModel):
    """Analyse one stored user utterance (the speech-input lane enqueues it; the prosody
    lane scores it). Never on the path to the assistant's reply."""

    session_id: str
    turn_id: str
    transcription_id: str
    trace_id: str
    audio_key: str  # storage key of the 16 kHz mono WAV (raw_inputs/...)
    transcript: str = ""  # final ASR text: one Chinese character = one syllable for the rate
    speech_ended_at: float  # unix time the utterance ended (end of speech → event latency)


class TranscriptionJob(BaseModel):
    """Transcribe one utterance cut by the API's VAD (the ``asr`` lane). The audio itself waits
    in Redis under ``audio_ref`` (PCM16 mono 16 kHz, short TTL), not in the message."""

    session_id: str
    utterance_id: str
    audio_ref: str
    partial: bool = False  # a live pass while the user still speaks
    speech_ended_at: float = 0.0  # unix time the utterance ended (finals)
    end_reason: str = "silence"  # silence | max_length | stream_end
