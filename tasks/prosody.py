"""``prosody`` lane: score one stored user utterance (confidence, stability, affability).

The job contract (:class:`tasks.jobs.ProsodyJob`) is what the speech-input lane enqueues;
the analysis lives in ``workers/prosody``. The lane runs prefork processes: parselmouth
holds the GIL.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task

from avatar.domain import Lane, Priority
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.guard import run_guarded
from tasks.jobs import ProsodyJob
from workers.prosody.service import prosody_failed, run_prosody

_settings = get_settings()


@app.task(
    name="avatar.prosody.analyze_utterance", bind=True, max_retries=_settings.task_max_retries,
    soft_time_limit=_settings.prosody_soft_time_limit_s, time_limit=_settings.prosody_time_limit_s,
)
def analyze_utterance(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = ProsodyJob.model_validate(payload)
    return run_guarded(
        self, partial(run_prosody, job), partial(prosody_failed, job), what="語調分析", backoff_cap_s=10
    )


def enqueue_prosody(job: ProsodyJob) -> None:
    analyze_utterance.apply_async(
        args=[job.model_dump(mode="json")], queue=Lane.PROSODY.value, priority=Priority.PROSODY
    )
