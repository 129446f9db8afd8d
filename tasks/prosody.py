"""``prosody`` lane: score one stored user utterance (confidence, stability, affability).

The job contract (:class:`tasks.jobs.ProsodyJob`) is what the speech-input lane enqueues;
the analysis lives in ``workers/prosody``. The lane runs prefork processes: parselmouth
holds the GIL.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from celery import Task
from celery.signals import celeryd_after_setup, worker_process_init

from avatar.domain import Lane, Priority
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.guard import run_guarded
from tasks.jobs import ProsodyJob
from workers.prosody.service import prosody_failed, run_prosody

log = logging.getLogger(__name__)
_settings = get_settings()
_serves_prosody: list[bool] = []


@celeryd_after_setup.connect
def _note_lane(sender: Any, instance: Any, **_: Any) -> None:
    # In the parent, before the pool forks: is this the prosody lane's worker?
    _serves_prosody.append(Lane.PROSODY.value in instance.app.amqp.queues.consume_from)


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    # openSMILE's first call costs about a second: pay it before the first utterance.
    if any(_serves_prosody):
        from workers.prosody.features import warm_up

        started = time.perf_counter()
        warm_up()
        log.info("prosody worker process warmed up in %.2f s", time.perf_counter() - started)


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
