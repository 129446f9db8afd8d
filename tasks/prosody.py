"""``prosody`` lane: score one stored user utterance (confidence, stability, affability).

The job contract is :class:`avatar.jobs.ProsodyJob` (the speech-input lane queues it); the
analysis lives in ``workers/prosody``. The lane runs prefork processes: parselmouth holds
the GIL.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task

from avatar import jobs
from avatar.jobs import ProsodyJob
from tasks.celery_app import app
from tasks.context import current
from tasks.guard import run_guarded
from workers.prosody.service import prosody_failed, run_prosody


@app.task(name=jobs.PROSODY.task, bind=True)
def analyze_utterance(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = ProsodyJob.model_validate(payload)
    ctx = current()
    return run_guarded(
        self, partial(run_prosody, ctx, job), partial(prosody_failed, ctx, job), what="語調分析", backoff_cap_s=10
    )
