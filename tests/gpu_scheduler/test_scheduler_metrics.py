"""Issue 5's Prometheus metrics, recorded where the budget, the lock and the breaker act.

Real Redis (the deploy issue's database 2, a fresh key prefix per test), real scheduler
objects; the samples are read back from prometheus-client's default registry.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY

from gpu_scheduler.breaker import CircuitBreaker
from gpu_scheduler.budget import VRAMBudget
from gpu_scheduler.model_host import ModelHost
from gpu_scheduler.lock import FencedSlot
from gpu_scheduler.registry import ModelSpec
from tests.gpu_scheduler.conftest import connect

REDIS_URL = os.environ.get("AVATAR_TEST_REDIS", "redis://127.0.0.1:6379") + "/2"


@pytest.fixture
def client() -> Iterator[redis.Redis]:  # the deploy issue's database, not the scheduler tests' 9
    yield from connect(REDIS_URL)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_loads_and_lru_and_idle_evictions_are_counted(client: redis.Redis) -> None:
    gpu = f"m{uuid.uuid4().hex[:6]}"
    now = [1000.0]
    budget = VRAMBudget(client, gpu, budget_mb=100, idle_unload_s=5, probe_device=False,
                        key_prefix=f"t{uuid.uuid4().hex[:6]}", clock=lambda: now[0])
    host = ModelHost(budget)
    a, b = ModelSpec("a", 60, 0, "on_demand"), ModelSpec("b", 60, 0, "on_demand")
    host.load(a, lambda: object())
    assert sample("gpu_model_loads_total", gpu=gpu, model="a") == 1
    assert sample("gpu_model_load_seconds_count", gpu=gpu, model="a") == 1
    now[0] += 1
    host.load(b, lambda: object())  # a is idle and does not fit beside b: evicted (LRU)
    assert sample("gpu_model_evictions_total", gpu=gpu, reason="lru") == 1
    now[0] += 10
    assert host.unload_idle() == ["b"]
    assert sample("gpu_model_evictions_total", gpu=gpu, reason="idle") == 1


def test_lock_wait_and_breaker_events_are_recorded(client: redis.Redis) -> None:
    name = f"avatar:test:lock:{uuid.uuid4().hex[:6]}"
    first = FencedSlot(client, name, ttl_s=10).acquire()
    assert first is not None
    assert FencedSlot(client, name, ttl_s=10).acquire() is None
    first.release()
    assert sample("gpu_lock_wait_seconds_count", lock=name, outcome="acquired") == 1
    assert sample("gpu_lock_wait_seconds_count", lock=name, outcome="busy") == 1

    breaker = CircuitBreaker(client, f"test-{uuid.uuid4().hex[:6]}", failure_threshold=1)
    breaker.record_failure()
    assert not breaker.allow()
    assert sample("gpu_breaker_events_total", breaker=breaker.name, event="failure") == 1
    assert sample("gpu_breaker_events_total", breaker=breaker.name, event="refused") == 1


def test_hq_oom_retry_and_degrade_are_counted(client: redis.Redis) -> None:
    """The real torch.cuda.OutOfMemoryError type, raised twice: one retry, then degrade."""
    import torch

    from workers.gpu_guard import DegradeToFast, synthesize_hq

    def out_of_memory() -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (raised by the test: no GPU here)")

    before = (sample("gpu_oom_total", tier="hq", outcome="retried"),
              sample("gpu_oom_total", tier="hq", outcome="exhausted"))
    breaker = CircuitBreaker(client, f"test-{uuid.uuid4().hex[:6]}")
    with pytest.raises(DegradeToFast):
        synthesize_hq(out_of_memory, breaker)
    assert sample("gpu_oom_total", tier="hq", outcome="retried") == before[0] + 1
    assert sample("gpu_oom_total", tier="hq", outcome="exhausted") == before[1] + 1


def test_tts_models_feed_tts_model_load_seconds(client: redis.Redis) -> None:
    from gpu_scheduler.registry import TTS_FAST_F5

    budget = VRAMBudget(client, f"m{uuid.uuid4().hex[:6]}", budget_mb=5000, idle_unload_s=300, probe_device=False,
                        key_prefix=f"t{uuid.uuid4().hex[:6]}")
    before = sample("tts_model_load_seconds_count", mode="fast")
    ModelHost(budget).load(ModelSpec(TTS_FAST_F5, 800, 600, "on_demand"), lambda: object())
    assert sample("tts_model_load_seconds_count", mode="fast") == before + 1
