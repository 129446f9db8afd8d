"""``/api/v1/metrics`` in the Prometheus text format.

The gauges of shared state (queues, admission, VRAM booked per model, breaker) are read from
Redis at scrape time; worker-side histograms come from each worker's own exporter
(see ``avatar.metrics``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServicesDep
from avatar.lanes import queue_lengths
from avatar.metrics import (
    ACTIVE_SESSIONS,
    GPU_BUDGET,
    GPU_MODEL_MEMORY,
    GPU_USED,
    HQ_BREAKER_STATE,
    HQ_SLOT_HELD,
    QUEUE_LENGTH,
    WAITING_SESSIONS,
)
from gpu_scheduler.state import HQ_BREAKER, scheduler_snapshot

_BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}

router = APIRouter(prefix="/api/v1", tags=["metrics"])


def _refresh_scheduler_gauges(snapshot: dict) -> None:
    ACTIVE_SESSIONS.set(snapshot["admission"]["active"])
    WAITING_SESSIONS.set(snapshot["admission"]["waiting"])
    HQ_SLOT_HELD.set(1 if snapshot["hq_slot"] else 0)
    HQ_BREAKER_STATE.labels(breaker=HQ_BREAKER).set(_BREAKER_LEVELS.get(snapshot["hq_breaker"]["state"], 0))
    GPU_MODEL_MEMORY.clear()  # models unloaded since the last scrape must disappear
    for gpu, budget in snapshot["gpus"].items():
        if not isinstance(budget, dict):
            continue
        GPU_BUDGET.labels(gpu=gpu).set(budget["budget_mb"])
        GPU_USED.labels(gpu=gpu).set(budget["used_mb"])
        for model, state in budget["models"].items():
            GPU_MODEL_MEMORY.labels(gpu=gpu, model=model).set(state["footprint_mb"])


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    try:
        client, settings = services.redis, services.settings
        for lane, depth in queue_lengths(client).items():
            QUEUE_LENGTH.labels(lane=lane).set(depth)
        _refresh_scheduler_gauges(scheduler_snapshot(client, settings))
    except Exception:  # metrics must still answer while Redis is down
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
