"""Where the GPU speech engines keep their models: one ``ModelHost`` per worker process,
booked against the shared VRAM budget of the GPU the worker is pinned to.

The GPU is the one ``avatar worker --gpu N`` pinned (``CUDA_VISIBLE_DEVICES``); its budget
and idle-unload time come from the configured preset (``AVATAR_GPU_PRESET``). Loading goes
through :meth:`ModelHost.load`, which reserves the model's registered footprint first
(evicting least-recently-used idle models of other workers if needed), so two engines never
overcommit the card; synthesis runs inside :meth:`ModelHost.using`, so a model in use is
never evicted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from avatar.redis import get_redis
from avatar.settings import Settings
from gpu_scheduler.budget import ModelInUse, VRAMBudget
from gpu_scheduler.model_host import TTS_MODES, ModelHost
from gpu_scheduler.presets import PRESETS, GPUPlan
from gpu_scheduler.registry import DEFAULT_SPECS, ModelSpec
from gpu_scheduler.state import budget_mb

_hosts: dict[tuple[int, str, str], ModelHost] = {}


def pinned_gpu() -> str:
    """The GPU index this process was pinned to (``--gpu``), ``0`` when not pinned."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return visible if visible.isdigit() else "0"


def gpu_plan(settings: Settings, gpu: str) -> GPUPlan:
    preset = PRESETS.get(settings.gpu_preset)
    if preset is None:
        raise KeyError(f"unknown AVATAR_GPU_PRESET {settings.gpu_preset!r}; choose one of {sorted(PRESETS)}")
    for plan in preset.gpus:
        if str(plan.gpu) == gpu:
            return plan
    return preset.gpus[0]


def model_spec(settings: Settings, name: str) -> ModelSpec:
    """The footprint the preset plans for ``name`` (its residency there), else the registry's."""
    for spec in gpu_plan(settings, pinned_gpu()).models:
        if spec.name == name:
            return spec
    return DEFAULT_SPECS[name]


def model_host(settings: Settings) -> ModelHost:
    """This process's host for its pinned GPU (created after the worker's fork)."""
    gpu = pinned_gpu()
    key = (os.getpid(), gpu, settings.redis_url)
    if key not in _hosts:
        plan = gpu_plan(settings, gpu)
        budget = VRAMBudget(
            get_redis(settings.redis_url), str(plan.gpu), budget_mb=budget_mb(plan, settings),
            idle_unload_s=plan.idle_unload_s,
        )
        _hosts[key] = ModelHost(budget)
    return _hosts[key]


@contextmanager
def loaded_model(settings: Settings, name: str, loader: Callable[[], Any]) -> Iterator[Any]:
    """The model ``name`` loaded through the budget, held as in use for the block (from its
    booking on: another worker's reservation cannot evict it while it loads)."""
    host = model_host(settings)
    host.unload_idle()  # our own models idle past the preset's time give their room back
    # An HQ model's load (a background rendering, mostly) spares a fast model live replies
    # are using sentence after sentence: it waits for room instead (gpu_guard: SlotBusy).
    spare = settings.hq_load_spares_recent_s if TTS_MODES.get(name) == "hq" else 0.0
    with host.holding(model_spec(settings, name), loader, spare_recent_s=spare) as model:
        yield model


def evict_idle_models(settings: Settings) -> list[str]:
    """After a CUDA out-of-memory error: drop every model this process holds that no job is
    using (the failed job's model included: its block has exited), so the retry starts
    from a clean allocator. Creates no host in a process that has none (CPU engines)."""
    host = _hosts.get((os.getpid(), pinned_gpu(), settings.redis_url))
    dropped: list[str] = []
    for name in host.loaded if host else []:
        try:
            if host.unload(name):
                dropped.append(name)
        except ModelInUse:
            pass
    return dropped
