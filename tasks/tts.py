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
from workers.speech import run_speech, speech_failed

_settings = get_settings()
_options: dict[str, Any] = {
    "bind": True,
    "max_retries": _settings.task_max_retries,
    "soft_time_limit": _settings.tts_soft_time_limit_s,
    "time_limit": _settings.tts_time_limit_s,
}


def _speak(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = SpeechJob.model_validate(payload)
    return run_guarded(
        task, partial(run_speech, job), partial(speech_failed, job), what="語音合成", backoff_cap_s=10
    )


@app.task(name="avatar.tts.fast.synthesize", **_options)
def synthesize_fast(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


@app.task(name="avatar.tts.hq.synthesize", **_options)
def synthesize_hq(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


def enqueue_speech(job: SpeechJob) -> None:
    """Send a sentence to its lane; a turn's first sentence gets the highest priority."""
    payload = [job.model_dump(mode="json")]
    if job.mode is TTSMode.HQ:
        synthesize_hq.apply_async(args=payload, queue=Lane.TTS_HQ.value, priority=Priority.HQ_UPGRADE)
    else:
        synthesize_fast.apply_async(
            args=payload, queue=Lane.TTS_FAST.value, priority=Priority.for_sentence(job.seq)
        )
