"""``tts_fast`` / ``tts_hq`` lanes: speak one sentence of a reply."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task

from avatar.domain import Lane, Priority, TTSMode
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.guard import run_guarded
from tasks.jobs import SpeechJob
from avatar.events import get_emitter
from avatar.redis import get_redis
from workers.turn_state import TurnState
from workers.hq_guard import DegradeToFast, SlotBusy
from workers.speech import run_speech, speech_failed

_settings = get_settings()
_options: dict[str, Any] = {
    "bind": True,
    "max_retries": _settings.task_max_retries,
    "soft_time_limit": _settings.tts_soft_time_limit_s,
    "time_limit": _settings.tts_time_limit_s,
}


# Waiting for the HQ slot: a retry a second for up to ten minutes (a hung holder is killed
# by its time limit long before, and a dead one's lock expires).
SLOT_WAIT_MAX_RETRIES = 600


def _speak(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = SpeechJob.model_validate(payload)
    try:
        return run_guarded(
            task, partial(run_speech, job), partial(speech_failed, job), what="語音合成",
            backoff_cap_s=10, passthrough=(SlotBusy, DegradeToFast),
        )
    except SlotBusy as exc:
        # Wait for the single HQ slot without spinning, apart from the engine's own retries
        # (max_retries=None would mean the task's default in Celery, not "unlimited").
        raise task.retry(exc=exc, countdown=1, max_retries=SLOT_WAIT_MAX_RETRIES) from exc
    except DegradeToFast as exc:
        get_emitter().error(job.session_id, exc.code, exc.message, job.trace_id, turn_id=job.turn_id, seq=job.seq)
        enqueue_speech(job.model_copy(update={"degraded": True}))
        return {"turn_id": job.turn_id, "seq": job.seq, "degraded": exc.code}


@app.task(name="avatar.tts.fast.synthesize", **_options)
def synthesize_fast(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


@app.task(name="avatar.tts.hq.synthesize", **_options)
def synthesize_hq(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


def enqueue_speech(job: SpeechJob) -> None:
    """Send a sentence to its lane; a turn's first sentence gets the highest priority."""
    payload = [job.model_dump(mode="json")]
    if job.synth_mode is TTSMode.HQ:
        result = synthesize_hq.apply_async(args=payload, queue=Lane.TTS_HQ.value, priority=Priority.HQ_UPGRADE)
    else:
        result = synthesize_fast.apply_async(
            args=payload, queue=Lane.TTS_FAST.value, priority=Priority.for_sentence(job.seq)
        )
    TurnState(get_redis(_settings.redis_url), job.turn_id).add_task(result.id)  # for barge-in
