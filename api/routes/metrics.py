"""``/api/v1/metrics`` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import SettingsDep
from avatar.lanes import queue_lengths
from avatar.metrics import (
    ACTIVE_SESSIONS,
    HQ_BREAKER_STATE,
    HQ_SLOT_HELD,
    QUEUE_LENGTH,
    WAITING_SESSIONS,
)
from avatar.redis import get_redis
from gpu_scheduler.state import scheduler_snapshot

_BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(settings: SettingsDep) -> Response:
    try:
        for lane, depth in queue_lengths(get_redis(settings.redis_url)).items():
            QUEUE_LENGTH.labels(lane=lane).set(depth)
        snapshot = scheduler_snapshot(get_redis(settings.redis_url), settings)
        ACTIVE_SESSIONS.set(snapshot["admission"]["active"])
        WAITING_SESSIONS.set(snapshot["admission"]["waiting"])
        HQ_SLOT_HELD.set(1 if snapshot["hq_slot"] else 0)
        HQ_BREAKER_STATE.set(_BREAKER_LEVELS.get(snapshot["hq_breaker"]["state"], 0))
    except Exception:  # metrics must still answer while Redis is down
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
