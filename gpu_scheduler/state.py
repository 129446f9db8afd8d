"""The scheduler's shared state, as ``/api/v1/health`` and ``/api/v1/metrics`` show it."""

from __future__ import annotations

from typing import Any

import redis

from avatar.settings import Settings
from gpu_scheduler.admission import AdmissionControl
from gpu_scheduler.breaker import CircuitBreaker
from gpu_scheduler.budget import VRAMBudget
from gpu_scheduler.lock import FencedSlot
from gpu_scheduler.presets import PRESETS, GPUPlan

# One HQ synthesis at a time (the seed's single-slot HQ lane), guarded by one breaker.
HQ_SLOT = "avatar:lock:tts_hq"
HQ_BREAKER = "tts_hq"


def admission_control(client: redis.Redis, settings: Settings) -> AdmissionControl:
    return AdmissionControl(
        client, max_active=settings.max_active_sessions, idle_timeout_s=settings.session_idle_timeout_s,
        heartbeat_s=settings.admission_heartbeat_s,
    )


def hq_breaker(client: redis.Redis) -> CircuitBreaker:
    return CircuitBreaker(client, HQ_BREAKER)


def budget_mb(plan: GPUPlan, settings: Settings) -> int:
    """The VRAM budget of ``plan``'s GPU: the preset's, capped by ``AVATAR_GPU_BUDGET_MB``."""
    return min(plan.budget_mb, settings.gpu_budget_mb) if settings.gpu_budget_mb else plan.budget_mb


def gpu_budgets(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Per GPU of the configured preset: its budget and what is loaded (never touches CUDA)."""
    preset = PRESETS.get(settings.gpu_preset)
    if preset is None:
        return {"error": f"unknown AVATAR_GPU_PRESET {settings.gpu_preset!r}; choose one of {sorted(PRESETS)}"}
    return {
        str(plan.gpu): {
            "lanes": list(plan.lanes),
            **VRAMBudget(
                client, str(plan.gpu), budget_mb=budget_mb(plan, settings), idle_unload_s=plan.idle_unload_s,
                probe_device=False,
            ).snapshot(),
        }
        for plan in preset.gpus
    }


def scheduler_snapshot(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    return {
        "preset": settings.gpu_preset,
        "gpus": gpu_budgets(client, settings),
        "admission": admission_control(client, settings).snapshot(),
        "hq_slot": FencedSlot(client, HQ_SLOT).holder(),
        "hq_breaker": hq_breaker(client).snapshot(),
    }
