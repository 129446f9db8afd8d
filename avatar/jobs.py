"""Job contracts: every payload a lane accepts, with the task that runs it, its lane and
its priority, defined once.

The API and the stages build these models and hand them to a :class:`avatar.dispatch.Dispatcher`;
``tasks/`` decodes them on the worker side. A job knows where it goes (:meth:`route`), so no
caller names a queue or a priority, and ``celeryconfig`` builds its queues and routes from
:data:`ROUTES`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, Field

from avatar.domain import Lane, Priority, TTSMode


@dataclass(frozen=True)
class Route:
    task: str  # the Celery task name (``tasks/`` registers a task under exactly this name)
    lane: Lane
    priority: int
    expires_s: float | None = None  # a job still queued after this is dropped (stale partials)


# Task names, one per job kind. ``tasks/`` registers each; the dispatcher sends by name.
REPLY = Route("avatar.llm.generate_reply", Lane.LLM, Priority.REPLY)
SPEECH_FAST = Route("avatar.tts.fast.synthesize", Lane.TTS_FAST, Priority.LATER_SENTENCE)
SPEECH_HQ = Route("avatar.tts.hq.synthesize", Lane.TTS_HQ, Priority.HQ_UPGRADE)
HQ_TURN = Route("avatar.tts.hq.render_turn", Lane.TTS_HQ, Priority.HQ_UPGRADE)
PREVIEW_FAST = Route("avatar.tts.fast.preview", Lane.TTS_FAST, Priority.LATER_SENTENCE)
PREVIEW_HQ = Route("avatar.tts.hq.preview", Lane.TTS_HQ, Priority.HQ_UPGRADE)
TRANSCRIBE_FINAL = Route("avatar.asr.transcribe_final", Lane.ASR, Priority.ASR_FINAL)
TRANSCRIBE_PARTIAL = Route("avatar.asr.transcribe_partial", Lane.ASR, Priority.ASR_PARTIAL, expires_s=30)
REFERENCE_TRANSCRIPT = Route("avatar.asr.reference_transcript", Lane.ASR, Priority.PROSODY)
PROSODY = Route("avatar.prosody.analyze_utterance", Lane.PROSODY, Priority.PROSODY)
VOICE_ANALYSIS = Route("avatar.prosody.analyze_voice", Lane.PROSODY, Priority.VOICE_ANALYSIS)
RESYNTHESIS = Route("avatar.batch.resynthesize", Lane.BATCH, Priority.BATCH)
# Its own lane: the fast and HQ engines may live in different engine environments (F5-TTS and
# CosyVoice do), and a worker runs in one.
RESYNTHESIS_FAST = Route("avatar.batch.resynthesize_fast", Lane.BATCH_FAST, Priority.BATCH)
PROBE = Route("avatar.diagnostics.probe", Lane.LLM, Priority.REPLY)  # any lane: tests, operators

ROUTES: tuple[Route, ...] = (
    REPLY, SPEECH_FAST, SPEECH_HQ, HQ_TURN, PREVIEW_FAST, PREVIEW_HQ, TRANSCRIBE_FINAL,
    TRANSCRIBE_PARTIAL, REFERENCE_TRANSCRIPT, PROSODY, VOICE_ANALYSIS, RESYNTHESIS, RESYNTHESIS_FAST,
    PROBE,
)


class Job(BaseModel):
    """A payload with a fixed route; subclasses whose route depends on the payload override
    :meth:`route`."""

    ROUTE: ClassVar[Route]
    # Unix time the job was built, just before it is sent: a stage reports how long its job
    # waited (``queue_ms``) apart from its engine's own time, so a saturated lane shows as
    # queue wait, not as a slow engine. A retried job keeps its first time.
    queued_at: float = Field(default_factory=time.time)

    def route(self) -> Route:
        return self.ROUTE

    def queue_ms(self) -> float:
        """Milliseconds since the job was queued (call when its stage starts work on it)."""
        return round(max(0.0, time.time() - self.queued_at) * 1000.0, 1)


class ReplyJob(Job):
    """Write the assistant's reply to a stored turn (``llm``)."""

    ROUTE: ClassVar[Route] = REPLY
    turn_id: str
    accepted_at: float  # unix time the turn was accepted: latencies count from here
    # Unix times of the hops so far (received, admitted, queued...): the per-hop profile of
    # the path to first audio, recorded with the turn's latency (TurnState.mark).
    path: dict[str, float] = Field(default_factory=dict)


class SpeechJob(Job):
    """Speak one sentence of a turn's reply (``tts_fast`` or ``tts_hq``)."""

    session_id: str
    turn_id: str
    trace_id: str
    generation: int = Field(ge=1)  # the reply attempt this sentence belongs to
    seq: int = Field(ge=0)  # position in the reply: audio is delivered in this order
    text: str = Field(min_length=1)
    mode: TTSMode = TTSMode.FAST
    voice_profile_id: str | None = None
    style: str | None = None  # the session's style/emotion hint (CosyVoice's instruct path)
    accepted_at: float  # unix time the API accepted the user's message
    path: dict[str, float] = Field(default_factory=dict)  # as ReplyJob.path, for this sentence
    # An HQ sentence re-routed to the fast engine (VRAM exhausted, HQ breaker open): it keeps
    # its place in the HQ order but is synthesised, stored and labelled as ``fast``.
    degraded: bool = False

    @property
    def synth_mode(self) -> TTSMode:
        return TTSMode.FAST if self.degraded else self.mode

    def route(self) -> Route:
        if self.synth_mode is TTSMode.HQ:
            return SPEECH_HQ
        # A turn's first sentence jumps ahead of later sentences of other turns.
        return Route(SPEECH_FAST.task, SPEECH_FAST.lane, Priority.for_sentence(self.seq))


class HQTurnJob(Job):
    """Render a whole turn in the HQ tier (mode ``both``), replacing the fast audio for replays."""

    ROUTE: ClassVar[Route] = HQ_TURN
    session_id: str
    turn_id: str
    trace_id: str
    generation: int = Field(ge=1)
    sentences: list[str] = Field(min_length=1)
    voice_profile_id: str | None = None
    style: str | None = None
    accepted_at: float


class PreviewJob(Job):
    """Speak a short text with a voice in one tier (the voice panel's preview buttons)."""

    profile_id: str
    mode: TTSMode
    text: str = Field(min_length=1)
    style: str | None = None

    def route(self) -> Route:
        return PREVIEW_HQ if self.mode is TTSMode.HQ else PREVIEW_FAST


class TranscriptionJob(Job):
    """Transcribe one utterance cut by the API's VAD (``asr``). The audio itself waits in Redis
    under ``audio_ref`` (PCM16 mono 16 kHz, short TTL), not in the message."""

    session_id: str
    utterance_id: str
    audio_ref: str
    partial: bool = False  # a live pass while the user still speaks
    speech_started_at: float = 0.0  # unix time the utterance began (finals; 0: unknown)
    speech_ended_at: float = 0.0  # unix time the utterance ended (finals)
    end_reason: str = "silence"  # silence | max_length | stream_end

    def route(self) -> Route:
        return TRANSCRIBE_PARTIAL if self.partial else TRANSCRIBE_FINAL


class ReferenceTranscriptJob(Job):
    """Transcribe a voice sample (neural cloning engines need the reference's text)."""

    ROUTE: ClassVar[Route] = REFERENCE_TRANSCRIPT
    profile_id: str


class ProsodyJob(Job):
    """Score one stored user utterance (confidence, stability, affability). Never on the path
    to the assistant's reply."""

    ROUTE: ClassVar[Route] = PROSODY
    session_id: str
    turn_id: str
    transcription_id: str
    trace_id: str
    audio_key: str  # storage key of the 16 kHz mono WAV (raw_inputs/...)
    transcript: str = ""  # final ASR text: one Chinese character = one syllable for the rate
    speech_ended_at: float  # unix time the utterance ended (end of speech → event latency)


class VoiceAnalysisJob(Job):
    """Turn an uploaded voice sample (already checked by the API) into a ready profile:
    reference WAV, speaker embedding, prosody profile, the ``lite`` engine's fit."""

    ROUTE: ClassVar[Route] = VOICE_ANALYSIS
    profile_id: str
    original_key: str  # storage key of the uploaded bytes
    session_id: str | None = None  # told ``voice_profile_state`` when the analysis ends
    needs_transcript: bool = True  # no transcript was given with the upload


class ResynthesisJob(Job):
    """Re-synthesise past turns in batch; the job's request and progress are in Redis
    (:mod:`avatar.resynthesis`)."""

    ROUTE: ClassVar[Route] = RESYNTHESIS
    job_id: str
    mode: TTSMode = TTSMode.HQ  # which tier re-speaks the turns: it picks the lane

    def route(self) -> Route:
        return RESYNTHESIS_FAST if self.mode is TTSMode.FAST else RESYNTHESIS
