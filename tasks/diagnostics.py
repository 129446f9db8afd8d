"""A probe task any lane can run: used by tests and benchmarks to observe execution order
and by operators to check a lane end to end (``avatar.diagnostics.probe``)."""

from __future__ import annotations

import os
import time

from avatar import jobs
from tasks.celery_app import app
from tasks.context import current


@app.task(name=jobs.PROBE.task)
def probe(label: str, record_key: str | None = None, hold_key: str | None = None, hold_s: float = 0.0) -> dict:
    """Record ``label`` in the Redis list ``record_key`` on start; if ``hold_key`` is given,
    wait (up to ``hold_s``) until someone pushes to it — a job that blocks its worker on demand."""
    client = current().services.redis
    if record_key:
        client.rpush(record_key, label)
        client.expire(record_key, 3600)
    if hold_key:
        client.blpop([hold_key], timeout=max(1, int(hold_s)))
    return {"label": label, "pid": os.getpid(), "at": time.time()}
