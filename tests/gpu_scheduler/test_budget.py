"""The VRAM budget against the real local Redis (database 9, a fresh key prefix per test).

There is no GPU on the test machine, so ``free_device_mb()`` is None and the configured
``budget_mb`` is the only limit: these tests check the bookkeeping (LRU eviction, idle
unloading, in-use protection, atomicity across processes), and ``ModelHost`` with real tiny
Hugging Face models held on the CPU under configured footprints.
"""

from __future__ import annotations

import gc
import multiprocessing
import random
import socket
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gpu_scheduler.budget import (
    BudgetExceeded,
    ModelInUse,
    ModelNotLoaded,
    ModelOwnedElsewhere,
    VRAMBudget,
)
from gpu_scheduler.model_host import ModelHost
from gpu_scheduler.presets import PRESETS, RTX_4090_MB
from gpu_scheduler.registry import DEFAULT_SPECS, LLM_VLLM, ModelSpec, override_from_measurement

from tests.gpu_scheduler.conftest import REDIS_URL


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def on_demand(name: str, mb: int) -> ModelSpec:
    return ModelSpec(name, weights_mb=mb, working_mb=0, residency="on_demand")


def resident(name: str, mb: int) -> ModelSpec:
    return ModelSpec(name, weights_mb=mb, working_mb=0, residency="resident")




@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    p = f"avatar-test-budget-{uuid.uuid4().hex[:10]}"
    yield p
    keys = list(client.scan_iter(match=f"{p}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_budget(
    client: redis.Redis, prefix: str, clock: FakeClock, budget_mb: int, idle_s: float = 60.0
) -> VRAMBudget:
    return VRAMBudget(client, "0", budget_mb=budget_mb, idle_unload_s=idle_s, clock=clock, key_prefix=prefix)


def test_no_gpu_here_so_the_configured_budget_is_used(
    client: redis.Redis, prefix: str, clock: FakeClock
) -> None:
    budget = make_budget(client, prefix, clock, 1000)
    assert budget.free_device_mb() is None
    snap = budget.snapshot()
    assert (snap["budget_mb"], snap["used_mb"], snap["free_mb"], snap["models"]) == (1000, 0, 1000, {})


def test_lru_eviction_order(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    budget = make_budget(client, prefix, clock, 1000)
    for t, name in enumerate("ABC", start=1):
        clock.now = 1000.0 + t
        assert budget.reserve(on_demand(name, 300), owner="w1") == []
    clock.now = 1004.0
    with budget.using("A"):  # A becomes the most recently used
        pass

    clock.now = 1005.0
    # D needs 500 of 1000 with 900 booked: B (least recently used) goes first, then C.
    assert budget.reserve(on_demand("D", 500), owner="w2") == ["B", "C"]
    snap = budget.snapshot()
    assert set(snap["models"]) == {"A", "D"}
    assert snap["used_mb"] == 800 and snap["peak_mb"] == 900
    # The owner of B and C is told to drop them; nobody else is.
    assert budget.pending_evictions("w1") == ["B", "C"]
    assert budget.pending_evictions("w2") == []
    budget.ack_eviction("B", "w1")
    assert budget.pending_evictions("w1") == ["C"]

    # Its holder reserving a loaded model only touches it: A is now newer than D, so E evicts D.
    clock.now = 1006.0
    assert budget.reserve(on_demand("A", 300), owner="w1") == []
    clock.now = 1007.0
    assert budget.reserve(on_demand("E", 600)) == ["D"]
    assert set(budget.snapshot()["models"]) == {"A", "E"}


def test_idle_models_are_listed_and_unloaded(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    budget = make_budget(client, prefix, clock, 5000, idle_s=60.0)
    budget.reserve(resident("asr", 1000))
    budget.reserve(on_demand("hq", 1000))
    budget.reserve(on_demand("fast", 500))
    budget.reserve(on_demand("busy", 500))
    budget.acquire("busy")

    clock.now += 30
    budget.acquire("fast")
    budget.release("fast")  # used 30 s in: idle 40 s at the check below
    clock.now += 40  # 70 s after the loads
    assert budget.idle_models() == ["hq"]  # resident and in-use models are never idle-listed
    snap = budget.snapshot()
    assert snap["models"]["hq"]["idle_s"] == pytest.approx(70.0)
    assert snap["models"]["fast"]["idle_s"] == pytest.approx(40.0)
    assert snap["models"]["busy"]["in_use"] == 1 and snap["models"]["busy"]["idle_s"] == 0.0

    assert budget.unload_idle() == ["hq"]
    assert set(budget.snapshot()["models"]) == {"asr", "fast", "busy"}

    clock.now += 100
    budget.release("busy")  # released now: idle 0 s
    assert budget.idle_models() == ["fast"]
    assert budget.unload_idle(owner="someone-else") == []  # only the owner's own models
    assert budget.unload_idle(owner=budget.owner) == ["fast"]
    assert budget.idle_models(now=clock.now + 61) == ["busy"]
    assert budget.snapshot()["used_mb"] == 1500


def test_models_in_use_and_resident_models_are_never_evicted(
    client: redis.Redis, prefix: str, clock: FakeClock
) -> None:
    budget = make_budget(client, prefix, clock, 1000)
    budget.reserve(resident("R", 500))
    clock.now += 1
    budget.reserve(on_demand("A", 200))
    clock.now += 1
    budget.reserve(on_demand("X", 200))

    with budget.using("A"):
        # A is the oldest idle-looking one, but in use: only X may go.
        clock.now += 1
        assert budget.reserve(on_demand("B", 250)) == ["X"]
        # C needs 350 more: B (idle) frees only 250, R is resident and A in use, so it
        # fails without evicting anything.
        clock.now += 1
        with pytest.raises(BudgetExceeded) as info:
            budget.reserve(on_demand("C", 400))
        assert info.value.capacity_mb == 1000
        with pytest.raises(ModelInUse):
            budget.unload("A")
        with pytest.raises(BudgetExceeded):  # bigger than the budget minus resident
            budget.reserve(on_demand("huge", 600))
    assert set(budget.snapshot()["models"]) == {"R", "A", "B"}  # the failures evicted nothing

    clock.now += 1
    assert budget.reserve(on_demand("C", 400)) == ["B", "A"]  # A released: evictable again
    with pytest.raises(BudgetExceeded):
        budget.reserve(on_demand("too-big", 600))  # would need R's room
    assert "R" in budget.snapshot()["models"]
    with pytest.raises(ModelNotLoaded):
        budget.acquire("A")


# --- atomicity across processes -------------------------------------------------------------

CHURN_BUDGET_MB = 1500
CHURN_SPECS = [on_demand(f"m{i}", 300 + 100 * i) for i in range(5)]  # 300..700 MiB
CHURN_RESIDENT = resident("resident", 200)


def churn(prefix: str, worker: int, seconds: float) -> dict[str, int]:
    """One worker process: reserve, use and unload models at random against the shared budget."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    budget = VRAMBudget(
        client, "0", budget_mb=CHURN_BUDGET_MB, idle_unload_s=60.0, key_prefix=prefix, probe_device=False
    )
    rng = random.Random(worker)
    stats = {"ops": 0, "reserved": 0, "evicted": 0, "exceeded": 0, "not_loaded": 0}
    held: list[str] = []
    # Start together so the two processes really overlap.
    client.incr(f"{prefix}:started")
    while int(client.get(f"{prefix}:started") or 0) < 2:
        time.sleep(0.005)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op = rng.random()
        spec = rng.choice(CHURN_SPECS)
        if op < 0.45:
            try:
                evicted = budget.reserve(spec)
                stats["reserved"] += 1
                stats["evicted"] += len(evicted)
                assert not set(evicted) & set(held), "evicted a model in use"
            except BudgetExceeded:
                stats["exceeded"] += 1
        elif op < 0.75 and len(held) < 2:
            try:
                budget.acquire(spec.name)
                held.append(spec.name)
            except ModelNotLoaded:
                stats["not_loaded"] += 1
        elif op < 0.9 and held:
            budget.release(held.pop(rng.randrange(len(held))))
        else:
            try:
                budget.unload(spec.name)
            except ModelInUse:
                pass
        for name in budget.pending_evictions():
            budget.ack_eviction(name)
        # After every operation: the booked total fits, and models in use are still loaded.
        assert budget.used_mb() <= CHURN_BUDGET_MB
        for name in held:
            assert budget.is_loaded(name), f"{name} vanished while in use"
        stats["ops"] += 1
    for name in held:
        budget.release(name)
    client.close()
    return stats


def test_reservations_are_atomic_across_two_processes(client: redis.Redis, prefix: str) -> None:
    budget = VRAMBudget(client, "0", budget_mb=CHURN_BUDGET_MB, idle_unload_s=60.0, key_prefix=prefix)
    budget.reserve(CHURN_RESIDENT)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(churn, [(prefix, 1, 1.5), (prefix, 2, 1.5)])

    assert all(r["ops"] > 50 for r in results), results
    assert sum(r["evicted"] for r in results) > 0, results  # there was contention to resolve
    snap = budget.snapshot()
    assert snap["peak_mb"] <= CHURN_BUDGET_MB  # the high-water mark, booked atomically
    assert snap["used_mb"] == sum(m["footprint_mb"] for m in snap["models"].values()) <= CHURN_BUDGET_MB
    assert all(m["in_use"] == 0 for m in snap["models"].values())
    assert "resident" in snap["models"]
    # Every per-model hash and the LRU set name exactly the same models.
    footprint, residency, in_use, owner, last_used = budget.all_keys()[:5]
    names = {n.decode() for n in client.hkeys(footprint)}
    assert names == set(snap["models"])
    for key in (residency, in_use, owner):
        assert {n.decode() for n in client.hkeys(key)} == names
    assert {n.decode() for n in client.zrange(last_used, 0, -1)} == names


# --- ModelHost with real tiny models ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.tiny import make_tiny_llm

    return make_tiny_llm(tmp_path_factory.mktemp("tiny") / "llm")


def test_model_host_loads_evicts_and_drops_real_models(
    client: redis.Redis, prefix: str, clock: FakeClock, tiny_llm_dir: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    def loader() -> Any:
        return AutoModelForCausalLM.from_pretrained(tiny_llm_dir, local_files_only=True).eval()

    budget = make_budget(client, prefix, clock, 1300)
    host = ModelHost(budget)
    spec_a, spec_b, spec_c = (on_demand(n, 600) for n in ("tiny-a", "tiny-b", "tiny-c"))

    model_a = host.load(spec_a, loader)
    clock.now += 1
    model_b = host.load(spec_b, loader)
    assert model_a is not model_b
    assert host.load(spec_a, loader) is model_a  # already held: no second copy
    assert host.loaded == ["tiny-a", "tiny-b"] and set(host.load_seconds) == {"tiny-a", "tiny-b"}
    b_ref = weakref.ref(model_b)
    del model_b

    clock.now += 1
    with host.using("tiny-a") as model, torch.inference_mode():  # tiny-a is now the newer one
        assert budget.snapshot()["models"]["tiny-a"]["in_use"] == 1
        logits = model(torch.tensor([[1, 2, 3]])).logits
        assert logits.shape[:2] == (1, 3)

    clock.now += 1
    model_c = host.load(spec_c, loader)  # needs tiny-b's room: evicted and dropped at once
    gc.collect()
    assert b_ref() is None
    assert host.loaded == ["tiny-a", "tiny-c"]
    with pytest.raises(ModelNotLoaded):
        host.get("tiny-b")
    assert host.get("tiny-c") is model_c

    snap = budget.snapshot()
    assert snap["used_mb"] == 1200 and snap["free_mb"] == 100 and snap["peak_mb"] == 1200
    assert snap["pending_evictions"] == []
    states = {name: (m["footprint_mb"], m["residency"], m["in_use"], m["owner"]) for name, m in snap["models"].items()}
    assert states == {
        "tiny-a": (600, "on_demand", 0, host.owner),
        "tiny-c": (600, "on_demand", 0, host.owner),
    }

    # Idle unloading drops the object too; an explicit unload as well.
    a_ref = weakref.ref(model_a)
    del model_a, model
    clock.now += 30
    with host.using("tiny-c"):
        pass
    clock.now += 40
    assert host.unload_idle() == ["tiny-a"]
    gc.collect()
    assert a_ref() is None
    c_ref = weakref.ref(model_c)
    del model_c
    assert host.unload("tiny-c") is True
    gc.collect()
    assert c_ref() is None and host.loaded == [] and budget.snapshot()["models"] == {}


def test_model_host_applies_evictions_requested_by_another_process(
    client: redis.Redis, prefix: str, clock: FakeClock
) -> None:
    budget = make_budget(client, prefix, clock, 1000)
    host = ModelHost(budget, owner="box:1")
    obj = host.load(on_demand("fast", 600), lambda: object())
    clock.now += 1
    assert budget.reserve(on_demand("hq", 600), owner="box:2") == ["fast"]  # another worker
    assert host.get("fast") is obj  # still held until the owner acts on the notice
    assert host.apply_evictions() == ["fast"]
    assert host.loaded == [] and budget.pending_evictions("box:1") == []


def test_a_model_is_not_evicted_while_it_loads(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    """The race met on the tiny-gpu stack: F5 booked and loading (seconds), CosyVoice's
    reservation in another worker evicted it, and F5's job then found it 'not loaded'."""
    budget = make_budget(client, prefix, clock, 1000)
    host = ModelHost(budget, owner="box:1")
    refused: list[BudgetExceeded] = []

    def slow_load() -> str:
        clock.now += 5  # a long load: the model looks idle to anyone counting only uses
        with pytest.raises(BudgetExceeded) as other:
            budget.reserve(on_demand("hq", 600), owner="box:2")
        refused.append(other.value)
        return "fast weights"

    with host.holding(on_demand("fast", 600), slow_load) as model:
        assert model == "fast weights" and budget.snapshot()["models"]["fast"]["in_use"] == 1
        clock.now += 5
        with pytest.raises(BudgetExceeded):  # in use by its job, after the load too
            budget.reserve(on_demand("hq", 600), owner="box:2")
    assert refused and budget.snapshot()["models"]["fast"]["in_use"] == 0
    assert budget.reserve(on_demand("hq", 600), owner="box:2") == ["fast"]  # idle now: evictable


def test_a_reservation_can_spare_recently_used_models(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    """An HQ load spares F5 between two sentences of a live reply, and takes its room later."""
    budget = make_budget(client, prefix, clock, 1000)
    host = ModelHost(budget, owner="box:1")
    with host.holding(on_demand("fast", 600), lambda: "fast weights"):
        pass
    clock.now += 1
    with pytest.raises(BudgetExceeded):
        budget.reserve(on_demand("hq", 600), owner="box:2", spare_recent_s=3)
    assert budget.is_loaded("fast")
    clock.now += 3
    assert budget.reserve(on_demand("hq", 600), owner="box:2", spare_recent_s=3) == ["fast"]


def test_a_booking_left_by_a_killed_worker_is_released_for_the_next(
    client: redis.Redis, prefix: str, clock: FakeClock
) -> None:
    """A real child process books a model, is SIGKILLed (as the faults bench kills workers),
    and a later process loads the same model instead of finding it 'owned elsewhere'."""
    budget = make_budget(client, prefix, clock, 1000)
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.start()
    killed = f"{socket.gethostname()}:{child.pid}"
    budget.reserve(on_demand("fast", 600), owner=killed)
    budget.acquire("fast")  # killed mid-synthesis: its in-use count stays behind too
    child.kill()
    child.join()
    alive = ModelHost(budget, owner=f"{socket.gethostname()}:{multiprocessing.current_process().pid}")
    model = alive.load(on_demand("fast", 600), lambda: "weights")
    assert model == "weights" and budget.owner_of("fast") == alive.owner
    assert budget.snapshot()["models"]["fast"]["in_use"] == 0

    # Another host's owner is never judged dead from here: while it uses the model, it keeps it.
    budget.reserve(on_demand("hq", 300), owner="another-box:1", hold=True)
    with pytest.raises(ModelOwnedElsewhere):
        alive.load(on_demand("hq", 300), lambda: "weights")


def test_a_model_another_process_holds_idle_is_handed_over(
    client: redis.Redis, prefix: str, clock: FakeClock
) -> None:
    """Two lanes on one GPU that speak with the same model (tts_fast and batch_fast with
    F5-TTS): one copy, taken in turns, never two bookings and never a refusal while idle."""
    budget = make_budget(client, prefix, clock, 1000)
    live, batch = ModelHost(budget, owner="box:1"), ModelHost(budget, owner="box:2")
    with live.holding(on_demand("fast", 600), lambda: "live copy"):
        with pytest.raises(ModelOwnedElsewhere):  # in use: not taken from under the job
            batch.load(on_demand("fast", 600), lambda: "batch copy")
    with batch.holding(on_demand("fast", 600), lambda: "batch copy") as model:
        assert model == "batch copy" and budget.owner_of("fast") == "box:2"
        assert budget.snapshot()["used_mb"] == 600 and budget.pending_evictions("box:1") == ["fast"]
    with live.holding(on_demand("fast", 600), lambda: "live copy again") as model:
        assert model == "live copy again" and batch.apply_evictions() == ["fast"]
    assert live.loaded == ["fast"] and batch.loaded == [] and budget.snapshot()["peak_mb"] == 600


def test_failed_load_rolls_back_the_reservation(client: redis.Redis, prefix: str, clock: FakeClock) -> None:
    budget = make_budget(client, prefix, clock, 1000)
    host = ModelHost(budget)

    def broken() -> Any:
        raise OSError("weights missing")

    with pytest.raises(OSError):
        host.load(on_demand("x", 600), broken)
    assert budget.snapshot()["models"] == {} and host.loaded == []


# --- registry and presets ------------------------------------------------------------------


def test_specs_and_measurement_override() -> None:
    llm = DEFAULT_SPECS[LLM_VLLM]
    assert llm.footprint_mb == 12000 and llm.residency == "resident"
    measured = override_from_measurement(llm, 13000)
    assert (measured.weights_mb, measured.working_mb, measured.footprint_mb) == (5500, 7500, 13000)
    assert override_from_measurement(llm, 4000).footprint_mb == 4000
    with pytest.raises(ValueError):
        ModelSpec("bad", weights_mb=1, working_mb=1, residency="sometimes")  # type: ignore[arg-type]


def test_presets_fit_their_budgets() -> None:
    single = PRESETS["single-4090"].gpus[0]
    assert single.gpu == 0 and single.vllm_gpu_memory_utilization == 0.55
    vllm = next(m for m in single.models if m.name == LLM_VLLM)
    assert vllm.footprint_mb == int(0.55 * RTX_4090_MB) and vllm.residency == "resident"
    assert {m.name: m.residency for m in single.models if m.residency == "on_demand"} == {
        "f5-tts": "on_demand",
        "cosyvoice3": "on_demand",
    }
    assert single.peak_mb <= single.budget_mb  # everything fits at once on the 4090
    speech = PRESETS["two-box-speech"].gpus[0]
    assert all(m.residency == "resident" for m in speech.models) and len(speech.models) == 3
    assert [m.name for m in PRESETS["two-box-llm"].gpus[0].models] == [LLM_VLLM]
