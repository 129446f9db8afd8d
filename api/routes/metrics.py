"""``/api/v1/metrics`` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import SettingsDep
from avatar.lanes import queue_lengths
from avatar.metrics import QUEUE_LENGTH
from avatar.redis import get_redis

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(settings: SettingsDep) -> Response:
    try:
        for lane, depth in queue_lengths(get_redis(settings.redis_url)).items():
            QUEUE_LENGTH.labels(lane=lane).set(depth)
    except Exception:  # metrics must still answer while Redis is down
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
