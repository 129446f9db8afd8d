"""Admission bookkeeping against the real Redis: a slot lives as long as its socket's
heartbeat, one socket holds one registration, and closing twice frees nothing twice.

Each test has its own key prefix. Heartbeats and idle timeouts are a fraction of a second
here; the tests wait for a lapse by polling for it, never by asserting on elapsed time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from gpu_scheduler.admission import AdmissionControl
from tests.conftest import REDIS_BASE

REDIS_URL = f"{REDIS_BASE}/9"  # the scheduler tests' database (tests/gpu_scheduler/conftest.py)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        c.ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say so loudly
        pytest.fail(f"these tests need the local Redis at {REDIS_URL}: {exc}")
    yield c
    c.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    prefix = f"test-admission:{uuid.uuid4().hex}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def make(client: redis.Redis, prefix: str) -> Callable[..., AdmissionControl]:
    def build(**kwargs: float) -> AdmissionControl:
        options = {"max_active": 2, "idle_timeout_s": 600.0, "heartbeat_s": 30.0, **kwargs}
        return AdmissionControl(client, prefix=prefix, **options)  # type: ignore[arg-type]

    return build


def poll(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_a_repeated_admit_over_one_socket_takes_nothing_more(make: Callable[..., AdmissionControl]) -> None:
    admission = make()
    for _ in range(5):  # e.g. a client repeating "connect" over one socket
        assert admission.admit("alice", "sock-a").admitted
    assert admission.leave("sock-a") == "alice"
    # The one close frees the slot: two other sessions fit at once.
    assert admission.admit("bob", "sock-b").admitted
    assert admission.admit("carol", "sock-c").admitted
    assert admission.snapshot()["active"] == 2


def test_closing_a_socket_twice_frees_nothing_twice(make: Callable[..., AdmissionControl]) -> None:
    admission = make(max_active=1)
    assert admission.admit("alice", "tab-1").admitted
    assert admission.admit("alice", "tab-2").admitted  # a second tab shares the slot
    assert admission.leave("tab-1") == "alice"
    assert admission.leave("tab-1") is None  # already gone: tab-2 still holds the slot
    assert not admission.admit("bob", "sock-b").admitted
    assert admission.leave("tab-2") == "alice"
    assert admission.admit("bob", "sock-b").admitted


def test_a_refused_socket_registers_nothing(make: Callable[..., AdmissionControl]) -> None:
    admission = make(max_active=1)
    assert admission.admit("alice", "sock-a").admitted
    refused = admission.admit("bob", "sock-b")
    assert not refused.admitted and refused.position == 1 and refused.active == 1
    assert admission.leave("sock-b") is None
    assert admission.renew(["sock-a", "sock-b"]) == ["sock-b"]


def test_sockets_nobody_renews_lapse_and_free_their_slots(make: Callable[..., AdmissionControl]) -> None:
    # Idle timeout 600 s: only the heartbeat can free these slots (an API that crashed).
    admission = make(heartbeat_s=0.5)
    assert admission.admit("alice", "sock-a").admitted
    assert admission.admit("bob", "sock-b").admitted
    assert not admission.admit("carol", "sock-c").admitted
    poll(lambda: admission.admit("carol", "sock-c").admitted, 30, "the unrenewed slots to lapse")
    assert admission.renew(["sock-a", "sock-b"]) == ["sock-a", "sock-b"]  # their registrations went too


def test_renewing_pushes_each_live_sockets_deadline(
    make: Callable[..., AdmissionControl], client: redis.Redis,
) -> None:
    admission = make(heartbeat_s=30.0)
    assert admission.admit("alice", "sock-a").admitted
    beats = admission._keys[4]
    first = client.zscore(beats, "sock-a")
    assert admission.renew(["sock-a"]) == []
    poll(lambda: admission.renew(["sock-a"]) == [] and client.zscore(beats, "sock-a") > first,
         10, "a later deadline")
    assert admission.snapshot()["active"] == 1


def test_an_idle_session_loses_its_slot_but_keeps_its_socket(make: Callable[..., AdmissionControl]) -> None:
    admission = make(max_active=1, idle_timeout_s=0.5)
    assert admission.admit("alice", "sock-a").admitted
    poll(lambda: admission.admit("bob", "sock-b").admitted, 30, "alice to go idle")
    assert not admission.admit("alice", "sock-a").admitted  # her activity finds the slot taken
    admission.leave("sock-b")
    assert admission.admit("alice", "sock-a").admitted  # and gets it back once it is free
    assert admission.renew(["sock-a"]) == []  # the same registration all along
    assert admission.leave("sock-a") == "alice"
    assert admission.admit("bob", "sock-b").admitted


def test_a_socket_speaks_for_one_session(make: Callable[..., AdmissionControl]) -> None:
    admission = make(max_active=1)
    assert admission.admit("alice", "sock-a").admitted
    admission.leave("sock-a")
    assert admission.admit("bob", "sock-a").admitted
    assert admission.leave("sock-a") == "bob"
