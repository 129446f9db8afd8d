"""``asr`` lane: transcribe utterances cut by the API's VAD (finals first, then partials)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import Task

from avatar import jobs
from avatar.jobs import TranscriptionJob
from tasks.celery_app import app
from tasks.context import current
from tasks.guard import run_guarded
from workers.transcription import run_final, run_partial, transcription_failed

log = logging.getLogger(__name__)


@app.task(name=jobs.TRANSCRIBE_FINAL.task, bind=True)
def transcribe_final(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = TranscriptionJob.model_validate(payload)
    ctx = current()
    return run_guarded(self, partial(run_final, ctx, job), partial(transcription_failed, ctx, job),
                       what="語音辨識", backoff_cap_s=5)


@app.task(name=jobs.TRANSCRIBE_PARTIAL.task, bind=True)
def transcribe_partial(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = TranscriptionJob.model_validate(payload)
    try:
        return run_partial(current(), job)
    except Exception as exc:  # a partial is a courtesy: the final pass reports real failures
        log.warning("partial transcript failed for %s: %s", job.utterance_id, exc)
        return {"failed": str(exc)}
