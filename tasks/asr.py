"""``asr`` lane: transcribe utterances cut by the API's VAD (finals first, then partials)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import Task

from avatar.domain import Lane, Priority
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.guard import run_guarded
from tasks.jobs import TranscriptionJob
from workers.transcription import run_final, run_partial, transcription_failed

log = logging.getLogger(__name__)
_settings = get_settings()


@app.task(
    name="avatar.asr.transcribe_final", bind=True, max_retries=_settings.task_max_retries,
    soft_time_limit=_settings.asr_soft_time_limit_s, time_limit=_settings.asr_time_limit_s,
)
def transcribe_final(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = TranscriptionJob.model_validate(payload)
    return run_guarded(self, partial(run_final, job), partial(transcription_failed, job),
                       what="語音辨識", backoff_cap_s=5)


@app.task(
    name="avatar.asr.transcribe_partial", bind=True, max_retries=0,
    soft_time_limit=_settings.asr_soft_time_limit_s, time_limit=_settings.asr_time_limit_s,
)
def transcribe_partial(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = TranscriptionJob.model_validate(payload)
    try:
        return run_partial(job)
    except Exception as exc:  # a partial is a courtesy: the final pass reports real failures
        log.warning("partial transcript failed for %s: %s", job.utterance_id, exc)
        return {"failed": str(exc)}


def enqueue_transcription(job: TranscriptionJob) -> None:
    if job.partial:
        transcribe_partial.apply_async(
            args=[job.model_dump(mode="json")], queue=Lane.ASR.value, priority=Priority.ASR_PARTIAL,
            expires=30,
        )
    else:
        transcribe_final.apply_async(
            args=[job.model_dump(mode="json")], queue=Lane.ASR.value, priority=Priority.ASR_FINAL
        )
