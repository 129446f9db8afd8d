"""What the API can see of the lanes: queue depth (summed over priority sub-lists) and the
live workers consuming each lane (Celery's remote control ``active_queues``)."""

from __future__ import annotations

import time
from typing import Any

import redis

from avatar.dispatch import Dispatcher
from avatar.domain import LANES

PRIORITY_SEP = ":"  # must match broker_transport_options["sep"]


def queue_lengths(client: redis.Redis) -> dict[str, int]:
    pipe = client.pipeline()
    for lane in LANES:
        pipe.llen(lane)
        for step in range(1, 10):
            pipe.llen(f"{lane}{PRIORITY_SEP}{step}")
    counts = pipe.execute()
    return {lane: int(sum(counts[i * 10 : (i + 1) * 10])) for i, lane in enumerate(LANES)}


_cache: dict[str, Any] = {"at": 0.0, "value": None}


def lane_workers(dispatcher: Dispatcher, *, timeout: float = 1.0, max_age_s: float = 2.0) -> dict[str, list[str]]:
    """Worker names per lane; cached briefly because a broadcast waits ``timeout`` seconds."""
    if _cache["value"] is not None and time.monotonic() - _cache["at"] < max_age_s:
        return _cache["value"]
    replies = dispatcher.active_queues(timeout=timeout)
    workers: dict[str, list[str]] = {lane: [] for lane in LANES}
    for worker, queues in replies.items():
        for queue in queues or []:
            if queue.get("name") in workers:
                workers[queue["name"]].append(worker)
    _cache.update(at=time.monotonic(), value=workers)
    return workers
