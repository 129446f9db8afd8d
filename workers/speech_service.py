"""The one way speech is made. Live sentences, a turn's HQ rendering (mode ``both``), batch
re-synthesis and voice previews all synthesise through :class:`SpeechService`, so the HQ
tier obeys the same rules whoever asks:

- the single HQ slot (``workers/gpu_guard.py``), held for the span the caller names with
  :meth:`SpeechService.holding`: one live sentence, a whole turn's rendering, one
  re-synthesised turn, one preview. A job that finds it taken raises ``SlotBusy`` and its
  task retries with a countdown; nothing here waits.
- the shared breaker and the CUDA out-of-memory fallback on every HQ synthesis
  (``DegradeToFast``: the caller decides what degrading means for its job).
- on the fast tier, out of memory even after freeing and one retry: the sentence is spoken
  by the CPU fallback engine (``Spoken.notice`` carries the ``VRAM_EXHAUSTED`` the session
  is told), or ``VRAMExhausted`` is raised when none is configured.
- every engine hears the same normalised text (numbers, dates, acronyms written out).

The fast tier takes no slot and no breaker: its lane has many processes and CPU engines.
Stored sentences go through :meth:`SpeechService.store_sentence`, one row and one file per
(turn, mode, seq).

A voice may be deleted at any moment (``DELETE /api/v1/voice-profiles/{id}``) while its
sentences are queued or being spoken. Such a sentence is spoken with the default voice
(:meth:`SpeechService.voice` finds no profile, or :meth:`Holding.speak` finds its reference
gone mid-synthesis) and stored with ``voice_profile_id`` NULL, never against a missing row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.audio import encode_wav
from avatar.db import SynthesizedAudio, VoiceProfile
from avatar.domain import TTSMode
from avatar.storage.keys import synthesized_key
from gpu_scheduler.breaker import CircuitBreaker
from gpu_scheduler.lock import Fence
from workers.context import StageContext
from workers.engines.base import VRAMExhausted
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference
from workers.engines.tts.gpu_host import evict_idle_models
from workers.engines.tts.normalize_zh import normalize_zh
from workers.gpu_guard import hq_breaker, hq_slot, retry_after_oom, synthesize_hq
from workers.voice_profiles import load_voice_reference


VRAM_FALLBACK_NOTICE = ("VRAM_EXHAUSTED", "顯存不足，此句改用備援語音（GPU out of memory: spoken by the CPU fallback engine）")


@dataclass(frozen=True)
class Spoken:
    """One synthesised sentence and what it cost. ``notice``: ``(code, message)`` the session
    should hear about how it was made (the fast tier's out-of-memory fallback)."""

    clip: SynthesizedClip
    engine: str
    synthesis_ms: float
    notice: tuple[str, str] | None = None


def speak(engine: TTSEngine, text: str, voice: VoiceReference | None, style: str | None = None) -> SynthesizedClip:
    """Every engine hears the same normalised text (numbers, dates, acronyms written out)."""
    return engine.synthesize(normalize_zh(text), voice=voice, style=style)


class Holding:
    """A tier held for a span of work: for HQ, the single slot (``fence``) and the breaker;
    for fast, nothing (``fence`` is None and the hold is always current)."""

    def __init__(self, service: SpeechService, mode: TTSMode, fence: Fence | None) -> None:
        self.service = service
        self.mode = mode
        self.fence = fence
        self.engine = service.engine(mode)
        self._breaker: CircuitBreaker | None = hq_breaker(service.ctx.services.redis) if fence else None

    def speak(self, text: str, voice: VoiceReference | None, style: str | None = None) -> Spoken:
        """Raises ``DegradeToFast`` (HQ: breaker open, VRAM exhausted) and whatever the
        engine raises. A voice deleted while it spoke (its reference file went with it)
        speaks the sentence again with the default voice."""
        try:
            return self._speak(text, voice, style)
        except Exception:
            if voice is None or voice.audio_path.exists():
                raise
        return self._speak(text, None, style)

    def _speak(self, text: str, voice: VoiceReference | None, style: str | None) -> Spoken:
        started = time.perf_counter()
        settings = self.service.ctx.settings
        engine, notice = self.engine, None
        if self._breaker is not None:
            clip = synthesize_hq(lambda: speak(engine, text, voice, style), self._breaker,
                                 evict_idle=lambda: evict_idle_models(settings))
        else:
            try:
                clip = retry_after_oom(lambda: speak(engine, text, voice, style), tier="fast",
                                       evict_idle=lambda: evict_idle_models(settings))
            except VRAMExhausted:
                fallback = self.service.ctx.engines.tts_oom_fallback()
                if fallback is None:
                    raise
                engine, notice = fallback, VRAM_FALLBACK_NOTICE
                clip = speak(engine, text, voice, style)
        return Spoken(clip, engine.name, (time.perf_counter() - started) * 1000.0, notice)

    def is_current(self) -> bool:
        """Still the slot's holder? Checked right before publishing: a job that lost the
        slot meanwhile (its heartbeat died and another job took it) must not publish."""
        return self.fence is None or self.fence.is_current()


class SpeechService:
    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    def engine(self, mode: TTSMode) -> TTSEngine:
        # No availability pre-check: an engine that cannot run raises EngineUnavailable
        # (with its fix) from synthesize() itself.
        return self.ctx.engines.tts(mode)

    def voice(self, profile_id: str | None) -> VoiceReference | None:
        """The profile's reference, or None (no voice, or deleted meanwhile: the default
        voice speaks)."""
        try:
            return load_voice_reference(profile_id, self.ctx.settings)
        except Exception:
            # deleted between reading its row and copying its file
            with self.ctx.services.db() as db:
                if profile_id and db.get(VoiceProfile, uuid.UUID(profile_id)) is None:
                    return None
            raise

    @contextmanager
    def holding(self, mode: TTSMode) -> Iterator[Holding]:
        """Hold ``mode``'s tier for the block. HQ: raises ``SlotBusy`` at once if another
        job holds the single slot."""
        if mode is TTSMode.BOTH:
            raise ValueError("hold one tier: fast or hq")
        if mode is TTSMode.FAST:
            yield Holding(self, mode, None)
            return
        with hq_slot(self.ctx.services.redis, self.ctx.settings) as fence:
            yield Holding(self, mode, fence)

    def store_sentence(
        self, db: DBSession, *, turn_id: str, mode: TTSMode | str, seq: int, text: str, spoken: Spoken,
        voice_profile_id: str | None, wav: bytes | None = None,
    ) -> str | None:
        """One sentence's file and row; returns its storage key, or None (nothing written)
        when that (turn, mode, seq) is already stored: a redelivered job stores nothing twice.
        ``wav``: the clip already encoded (the live stage encoded it to publish).
        ``voice_profile_id`` is recorded only if the profile still exists (see
        :func:`attach_voice`)."""
        mode = TTSMode(mode).value
        exists = db.scalar(select(SynthesizedAudio.audio_id).where(
            SynthesizedAudio.turn_id == uuid.UUID(turn_id), SynthesizedAudio.mode == mode,
            SynthesizedAudio.seq == seq,
        ))
        if exists is not None:
            return None
        key = synthesized_key(mode, turn_id, seq, datetime.now(UTC))  # type: ignore[arg-type]
        clip = spoken.clip
        self.ctx.services.storage.put(key, wav or encode_wav(clip.samples, clip.sample_rate),
                                      content_type="audio/wav")
        row = SynthesizedAudio(
            turn_id=uuid.UUID(turn_id), voice_profile_id=None, mode=mode, seq=seq, text=text,
            engine=spoken.engine, audio_url=key, duration_sec=clip.duration_s, synthesis_time_ms=spoken.synthesis_ms,
        )
        db.add(row)
        if voice_profile_id:
            attach_voice(db, row, uuid.UUID(voice_profile_id))
        return key


def attach_voice(db: DBSession, row: SynthesizedAudio, profile_id: uuid.UUID) -> None:
    """Record ``profile_id`` on a new row only if that profile still exists, and keep it
    from being deleted until this transaction commits, so the insert never fails on the
    foreign key. The row is written first: on SQLite that write holds the database's one
    writer lock, so no delete commits between the check and the commit; on PostgreSQL the
    check's FOR KEY SHARE waits for a delete in flight (then finds no row) and blocks a later
    one until this commit, whose ON DELETE SET NULL then clears the id like every other."""
    db.flush()
    row.voice_profile_id = db.scalar(
        select(VoiceProfile.profile_id).where(VoiceProfile.profile_id == profile_id)
        .with_for_update(read=True, key_share=True)
    )

