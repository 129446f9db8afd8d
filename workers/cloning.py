"""The HQ rendering of a whole turn (mode ``both``) that replaces the fast audio for replays.

Mode ``both``: the reply stage sends every sentence to the fast lane as usual and, once the
reply text is complete, one :class:`HQTurnJob` to the ``tts_hq`` lane (low priority). That
job waits until the turn's fast sentences are all spoken (retrying like a job waiting for the
HQ slot: live audio has the GPU first), then renders the turn's sentences one after another
inside the single HQ slot (held for the whole turn), stores them (``synthesized_audios``
rows in mode ``hq`` plus one whole-turn WAV) and tells the browser ``hq_audio_ready {turn_id,
url, duration_ms}``. If HQ fails, times out or its breaker is open, the turn keeps its fast
audio and the browser gets a notice (``HQ_UNAVAILABLE``, 高品質模型暫時不可用). The fast lane
never waits for any of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from avatar.audio import encode_wav
from avatar.audio_io import resample
from avatar.db import ConversationTurn
from avatar.domain import TTSMode
from avatar.events import HQ_AUDIO_READY
from avatar.jobs import HQTurnJob
from avatar.storage.keys import synthesized_key
from avatar.turns import TurnState, record_hq_render
from workers.context import StageContext
from workers.engines.tts.base import SynthesizedClip
from workers.gpu_guard import SlotBusy
from workers.speech_service import SpeechService

log = logging.getLogger(__name__)

HQ_UNAVAILABLE_MESSAGE = "高品質模型暫時不可用，本回合保留快速語音（HQ model unavailable; the fast audio is kept）"


def join_clips(clips: list[SynthesizedClip], gap_s: float = 0.12) -> SynthesizedClip:
    rate = clips[0].sample_rate
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    for clip in clips:
        samples = clip.samples if clip.sample_rate == rate else resample(clip.samples, clip.sample_rate, rate)
        parts += [samples.astype(np.float32), gap]
    return SynthesizedClip(samples=np.concatenate(parts[:-1]), sample_rate=rate)


def turn_audio_key(mode: str, turn_id: str, ts: datetime) -> str:
    """The whole turn as one file, beside its sentences (``synthesized/{mode}/...``)."""
    return synthesized_key(mode, turn_id, 0, ts).replace(f"{turn_id}_0_", f"{turn_id}_turn_")  # type: ignore[arg-type]


def render_hq_turn(ctx: StageContext, job: HQTurnJob) -> dict[str, Any]:
    """Raises ``SlotBusy`` (retry later), ``DegradeToFast`` and anything the engine raises
    (the task turns those into the HQ notice)."""
    services = ctx.services
    state = TurnState(services.redis, job.turn_id)
    if state.generation() != job.generation:
        return {"skipped": "stale generation"}
    if not state.audio_settled() and not state.interrupted():
        # Live audio first: the rendering would compete with the turn's own fast sentences for
        # the GPU (and, on a tight VRAM budget, evict the fast model between two of them).
        raise SlotBusy("the turn's live audio is still being spoken")
    speech = SpeechService(ctx)
    voice = speech.voice(job.voice_profile_id)
    with speech.holding(TTSMode.HQ) as held:  # the whole turn in one hold: no live HQ job interleaves
        started_at = time.time()
        spoken = [held.speak(text, voice, job.style) for text in job.sentences]
        if not held.is_current():  # lost the slot meanwhile: a late publish is refused
            return {"skipped": "lost the HQ slot"}
        done_at = time.time()
    whole = join_clips([s.clip for s in spoken])
    key = turn_audio_key(TTSMode.HQ.value, job.turn_id, datetime.now(UTC))
    services.storage.put(key, encode_wav(whole.samples, whole.sample_rate), content_type="audio/wav")
    with services.db() as db:
        if db.get(ConversationTurn, uuid.UUID(job.turn_id)) is None:
            return {"skipped": "turn deleted"}
        for seq, (text, sentence) in enumerate(zip(job.sentences, spoken, strict=True)):
            speech.store_sentence(db, turn_id=job.turn_id, mode=TTSMode.HQ, seq=seq, text=text, spoken=sentence,
                                  voice_profile_id=job.voice_profile_id)
    record_hq_render(
        services, job.turn_id, hq_audio_key=key, hq_engine=held.engine.name, hq_started_at=started_at,
        hq_done_at=done_at, hq_ready_ms=round((done_at - job.accepted_at) * 1000.0, 1),
    )
    duration_ms = round(whole.duration_s * 1000.0, 1)
    services.emitter.emit(
        HQ_AUDIO_READY, {"turn_id": job.turn_id, "url": services.storage.url(key), "duration_ms": duration_ms},
        job.session_id,
    )
    return {"turn_id": job.turn_id, "key": key, "duration_ms": duration_ms}


def hq_turn_failed(ctx: StageContext, job: HQTurnJob, reason: str) -> None:
    """The turn keeps its fast audio; the session is told once."""
    log.warning("HQ rendering of turn %s failed: %s", job.turn_id, reason)
    ctx.services.emitter.error(
        job.session_id, "HQ_UNAVAILABLE", HQ_UNAVAILABLE_MESSAGE, job.trace_id, turn_id=job.turn_id,
        mode="hq", reason=reason[:300],
    )
