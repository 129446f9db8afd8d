"""The scheduler's shared state, as ``/api/v1/health`` and ``/api/v1/metrics`` show it."""

from __future__ import annotations

from typing import Any

import redis

from avatar.settings import Settings
from gpu_scheduler.admission import AdmissionControl
from gpu_scheduler.breaker import CircuitBreaker
from gpu_scheduler.lock import FencedSlot

# One HQ synthesis at a time (the seed's single-slot HQ lane), guarded by one breaker.
HQ_SLOT = "avatar:lock:tts_hq"
HQ_BREAKER = "tts_hq"


def admission_control(client: redis.Redis, settings: Settings) -> AdmissionControl:
    return AdmissionControl(
        client, max_active=settings.max_active_sessions, idle_timeout_s=settings.session_idle_timeout_s
    )


def hq_breaker(client: redis.Redis) -> CircuitBreaker:
    return CircuitBreaker(client, HQ_BREAKER)


def scheduler_snapshot(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    return {
        "admission": admission_control(client, settings).snapshot(),
        "hq_slot": FencedSlot(client, HQ_SLOT).holder(),
        "hq_breaker": hq_breaker(client).snapshot(),
    }
