"""The shared circuit breaker, against the real Redis (database 9, a unique name per test)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gpu_scheduler.breaker import CircuitBreaker, CircuitOpen

from tests.gpu_scheduler.conftest import REDIS_URL
REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now




@pytest.fixture
def name(client: redis.Redis) -> Iterator[str]:
    n = f"test-{uuid.uuid4().hex}"
    yield n
    client.delete(f"avatar:breaker:{n}:state", f"avatar:breaker:{n}:trial")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(client: redis.Redis, name: str, clock: FakeClock, **kw) -> CircuitBreaker:
    return CircuitBreaker(client, name, clock=clock, **kw)


def test_defaults_match_the_seed(client, name):
    b = CircuitBreaker(client, name)
    assert b.failure_threshold == 5
    assert b.recovery_timeout_s == 30.0
    assert b.state() == "closed"
    assert b.allow() is True


def test_opens_after_five_consecutive_failures(client, name, clock):
    b = make(client, name, clock)
    for i in range(4):
        b.record_failure()
        assert b.state() == "closed", i
    b.record_failure()
    assert b.state() == "open"
    assert b.allow() is False


def test_a_success_in_between_resets_the_count(client, name, clock):
    b = make(client, name, clock)
    for _ in range(4):
        b.record_failure()
    b.record_success()
    assert b.snapshot()["consecutive_failures"] == 0
    for _ in range(4):
        b.record_failure()
    assert b.state() == "closed"
    b.record_failure()
    assert b.state() == "open"


def test_open_refuses_then_half_open_after_recovery(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=30.0)
    for _ in range(5):
        b.record_failure()
    clock.now += 29.0
    assert b.state() == "open"
    assert b.allow() is False
    with pytest.raises(CircuitOpen) as info:
        with b.guard():
            pytest.fail("the block must not run while open")
    assert info.value.retry_in_s == pytest.approx(1.0)
    clock.now += 1.0
    assert b.state() == "half_open"


def test_half_open_allows_exactly_one_trial_among_many_callers(client, name):
    # Real time here: a 0.5 s recovery, and 32 threads (own connections) racing for the trial.
    b0 = CircuitBreaker(client, name, recovery_timeout_s=0.5)
    for _ in range(5):
        b0.record_failure()
    assert b0.state() == "open"
    time.sleep(0.6)
    assert b0.state() == "half_open"

    n = 32
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def caller() -> None:
        c = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        b = CircuitBreaker(c, name, recovery_timeout_s=0.5)
        barrier.wait()
        ok = b.allow()
        with lock:
            results.append(ok)
        c.close()

    threads = [threading.Thread(target=caller) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == n
    assert results.count(True) == 1
    # Still half-open, trial taken: others keep being refused.
    assert b0.allow() is False
    with pytest.raises(CircuitOpen):
        with b0.guard():
            pass


def test_trial_success_closes(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=10.0)
    for _ in range(5):
        b.record_failure()
    clock.now += 10.0
    with b.guard():
        pass
    assert b.state() == "closed"
    snap = b.snapshot()
    assert snap["consecutive_failures"] == 0
    assert snap["opened_at"] is None
    assert b.allow() is True and b.allow() is True


def test_trial_failure_reopens_for_another_timeout(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=10.0)
    for _ in range(5):
        b.record_failure()
    clock.now += 10.0
    with pytest.raises(ValueError):
        with b.guard():
            raise ValueError("engine still broken")
    assert b.state() == "open"
    snap = b.snapshot()
    assert snap["opened_at"] == clock.now
    assert snap["retry_in_s"] == pytest.approx(10.0)
    assert b.allow() is False
    clock.now += 9.9
    assert b.allow() is False
    clock.now += 0.1
    assert b.state() == "half_open"
    assert b.allow() is True  # a fresh trial after the re-open
    assert b.allow() is False


def test_abandoned_trial_expires(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=10.0, trial_timeout_s=0.2)
    for _ in range(5):
        b.record_failure()
    clock.now += 10.0
    assert b.allow() is True  # the holder then dies without reporting
    assert b.allow() is False
    time.sleep(0.3)
    assert b.allow() is True


def test_late_failure_while_open_does_not_push_retry_back(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=10.0)
    for _ in range(5):
        b.record_failure()
    opened = b.snapshot()["opened_at"]
    clock.now += 5.0
    b.record_failure()
    snap = b.snapshot()
    assert snap["opened_at"] == opened
    assert snap["consecutive_failures"] == 6
    assert snap["retry_in_s"] == pytest.approx(5.0)


def test_snapshot_fields(client, name, clock):
    b = make(client, name, clock, recovery_timeout_s=30.0)
    snap = b.snapshot()
    assert snap == {
        "name": name,
        "state": "closed",
        "consecutive_failures": 0,
        "opened_at": None,
        "retry_in_s": 0.0,
        "failure_threshold": 5,
        "recovery_timeout_s": 30.0,
    }
    b.record_failure()
    assert b.snapshot()["consecutive_failures"] == 1
    for _ in range(4):
        b.record_failure()
    clock.now += 12.5
    snap = b.snapshot()
    assert snap["state"] == "open"
    assert snap["consecutive_failures"] == 5
    assert snap["opened_at"] == clock.now - 12.5
    assert snap["retry_in_s"] == pytest.approx(17.5)
    clock.now += 17.5
    snap = b.snapshot()
    assert snap["state"] == "half_open"
    assert snap["retry_in_s"] == 0.0


def test_guard_records_success_and_failure(client, name, clock):
    b = make(client, name, clock)
    with pytest.raises(RuntimeError):
        with b.guard():
            raise RuntimeError("boom")
    assert b.snapshot()["consecutive_failures"] == 1
    with b.guard():
        pass
    assert b.snapshot()["consecutive_failures"] == 0


def test_decode_responses_client_works(name, clock):
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    b = make(c, name, clock)
    for _ in range(5):
        b.record_failure()
    assert b.snapshot()["state"] == "open"
    c.close()


# A second real process driven over stdin/stdout: "fail" records 5 failures, "trial" runs one
# guarded call that succeeds, "quit" ends it. It replies with the state it sees.
_WORKER = """
import sys, redis
from gpu_scheduler.breaker import CircuitBreaker, CircuitOpen
b = CircuitBreaker(redis.Redis.from_url(sys.argv[1]), sys.argv[2], recovery_timeout_s=0.5)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "fail":
        for _ in range(5):
            b.record_failure()
        print("state", b.state(), flush=True)
    elif cmd == "trial":
        try:
            with b.guard():
                pass
            print("trial ok", b.state(), flush=True)
        except CircuitOpen as exc:
            print("trial refused", exc.retry_in_s, flush=True)
    elif cmd == "quit":
        break
"""


def test_transitions_are_shared_across_processes(client, name):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, REDIS_URL, name],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(cmd: str) -> str:
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    try:
        assert proc.stdout.readline().strip() == "ready"
        here = CircuitBreaker(client, name, recovery_timeout_s=0.5)
        assert here.state() == "closed"

        assert ask("fail") == "state open"
        assert here.state() == "open"
        assert here.allow() is False
        with pytest.raises(CircuitOpen):
            with here.guard():
                pass

        time.sleep(0.6)
        assert here.state() == "half_open"
        assert ask("trial") == "trial ok closed"
        assert here.state() == "closed"
        assert here.snapshot()["consecutive_failures"] == 0
        assert here.allow() is True
        proc.stdin.write("quit\n")
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
