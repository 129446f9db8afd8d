"""The preview stage: speak a short text with a voice in one tier, on that tier's lane (the
API never loads a speech model). Its state lives in the core (``avatar/previews.py``),
which the API polls.

An HQ preview is HQ work like any other: it holds the single HQ slot while it speaks, and
goes through the breaker and the out-of-memory fallback. A preview that finds the slot
taken raises ``SlotBusy`` (its task retries with a countdown) and its state stays
``pending`` meanwhile. ``started_at`` / ``done_at`` (unix time) say when it spoke.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from avatar.audio import encode_wav
from avatar.jobs import PreviewJob
from avatar.previews import set_preview_state
from avatar.storage.keys import voice_profile_key
from workers.context import StageContext
from workers.gpu_guard import DegradeToFast, SlotBusy
from workers.speech_service import SpeechService


def run_preview(ctx: StageContext, job: PreviewJob) -> dict[str, Any]:
    """Raises ``SlotBusy`` (HQ: retry later); every other failure ends in state ``failed``
    with its reason, and the worker goes on."""
    services = ctx.services
    speech = SpeechService(ctx)
    voice = speech.voice(job.profile_id)
    if voice is None:
        return {"skipped": "voice deleted"}
    with speech.holding(job.mode) as held:
        started_at = time.time()
        try:
            spoken = held.speak(job.text, voice, job.style)
        except DegradeToFast as exc:  # HQ breaker open or VRAM exhausted: no fast stand-in here
            return _failed(ctx, job, held.engine.name, f"{exc.code}: {exc.message}", started_at)
        except Exception as exc:  # the preview says why
            return _failed(ctx, job, held.engine.name, str(exc), started_at)
        done_at = time.time()
        if not held.is_current():  # another job took the slot meanwhile: speak again, in it
            raise SlotBusy("lost the HQ slot during a preview")
    clip = spoken.clip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    key = voice_profile_key(job.profile_id, f"preview_{job.mode.value}_{stamp}.wav")
    services.storage.put(key, encode_wav(clip.samples, clip.sample_rate))
    state = {
        "status": "ready", "engine": spoken.engine, "key": key,
        "duration_ms": round(clip.duration_s * 1000.0, 1), "synthesis_ms": round(spoken.synthesis_ms, 1),
        "started_at": started_at, "done_at": done_at,
    }
    set_preview_state(services, job.profile_id, job.mode, state)
    return state


def preview_failed(ctx: StageContext, job: PreviewJob, reason: str) -> None:
    """The preview could not even start (e.g. the HQ slot stayed busy for too long)."""
    set_preview_state(ctx.services, job.profile_id, job.mode, {"status": "failed", "reason": reason})


def _failed(ctx: StageContext, job: PreviewJob, engine: str, reason: str, started_at: float) -> dict[str, Any]:
    state = {"status": "failed", "engine": engine, "reason": reason, "started_at": started_at,
             "done_at": time.time()}
    set_preview_state(ctx.services, job.profile_id, job.mode, state)
    return {"failed": reason}
