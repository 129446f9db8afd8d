"""``prosody`` lane: score one stored user utterance (confidence, stability, affability).

The job contract (:class:`tasks.jobs.ProsodyJob`) is fixed here so the speech-input lane can
enqueue it; the analysis itself lives in ``workers/`` (prosody issue).
"""

from __future__ import annotations

import logging
from typing import Any

from avatar.domain import Lane, Priority
from tasks.celery_app import app
from tasks.jobs import ProsodyJob

log = logging.getLogger(__name__)


@app.task(name="avatar.prosody.analyze_utterance", bind=True)
def analyze_utterance(self, payload: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    job = ProsodyJob.model_validate(payload)
    log.info("prosody analysis not implemented yet for %s", job.transcription_id)
    return {"transcription_id": job.transcription_id, "skipped": "not implemented"}


def enqueue_prosody(job: ProsodyJob) -> None:
    analyze_utterance.apply_async(
        args=[job.model_dump(mode="json")], queue=Lane.PROSODY.value, priority=Priority.PROSODY
    )
