"""The HQ lane's fenced single-slot lock, against the real Redis (db 9) and real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from gpu_scheduler.lock import FencedSlot, check_fence

from tests.gpu_scheduler.conftest import REDIS_URL
REPO = Path(__file__).resolve().parents[2]


def wait_for(cond: Callable[[], object], timeout: float, what: str, every: float = 0.01) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)




@pytest.fixture
def name(client: redis.Redis) -> Iterator[str]:
    prefix = f"test-lock:{uuid.uuid4().hex}"
    yield f"{prefix}:hq"
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), REDIS_URL, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"worker timed out:\n{out.decode(errors='replace')}")
    assert proc.returncode == 0, out.decode(errors="replace")


CONTENDER = """
import sys, time, random, redis
from gpu_scheduler.lock import FencedSlot
url, name, who, turns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = redis.Redis.from_url(url)
slot = FencedSlot(c, name, ttl_s=5.0)
c.incr(name + ":ready")
deadline = time.monotonic() + 5
while int(c.get(name + ":ready")) < 2:   # start together
    assert time.monotonic() < deadline, "the other contender never started"
    time.sleep(0.005)
done = 0
deadline = time.monotonic() + 8
while done < turns:
    assert time.monotonic() < deadline, "starved"
    fence = slot.acquire()               # non-blocking, like a task that retries later
    if fence is None:
        time.sleep(0.005)                # the "countdown" before the retry
        continue
    with fence:
        start = time.monotonic_ns()
        time.sleep(0.02)                 # the critical section
        assert fence.is_current()
        end = time.monotonic_ns()
        c.rpush(name + ":log", f"{who} {fence.token} {start} {end}")
    done += 1
    time.sleep(0.02 + random.random() * 0.01)  # let the other side in
"""


def test_two_processes_never_overlap_and_both_get_turns(client: redis.Redis, name: str) -> None:
    turns = 8
    procs = [spawn(CONTENDER, name, who, str(turns)) for who in ("a", "b")]
    for p in procs:
        finish(p, timeout=15)

    rows = [r.decode().split() for r in client.lrange(f"{name}:log", 0, -1)]
    entries = sorted((int(s), int(e), who, int(tok)) for who, tok, s, e in rows)
    assert len(entries) == 2 * turns
    assert {who for _, _, who, _ in entries} == {"a", "b"}
    for (_, prev_end, *_), (start, _, *_) in zip(entries, entries[1:]):
        assert start >= prev_end, "two critical sections overlapped"
    tokens = [tok for *_, tok in entries]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens), "fence not monotonic"
    assert FencedSlot(client, name).holder() is None


def test_heartbeat_keeps_holder_alive_past_ttl(client: redis.Redis, name: str) -> None:
    slot = FencedSlot(client, name, ttl_s=1.0)
    fence = slot.acquire()
    assert fence is not None
    try:
        time.sleep(2.5)
        assert fence._lock.owned()
        assert fence.is_current()
        assert not fence.lost
        assert check_fence(client, name, fence.token)
        info = slot.holder()
        assert info is not None and info["token"] == fence.token and 0 < info["ttl_ms"] <= 1000
        assert FencedSlot(client, name, ttl_s=1.0).acquire() is None
    finally:
        slot.release()
    assert slot.holder() is None
    assert not fence.is_current()


HOLDER = """
import sys, time, redis
from gpu_scheduler.lock import FencedSlot
url, name = sys.argv[1], sys.argv[2]
c = redis.Redis.from_url(url)
fence = FencedSlot(c, name, ttl_s=1.0).acquire()
assert fence is not None
c.set(name + ":victim", fence.token)
time.sleep(60)
"""


def test_killed_holder_is_fenced_out(client: redis.Redis, name: str) -> None:
    proc = spawn(HOLDER, name)
    try:
        old = int(wait_for(lambda: client.get(f"{name}:victim"), 10, "the holder to acquire"))
        assert check_fence(client, name, old)

        slot = FencedSlot(client, name, ttl_s=1.0)
        began = time.monotonic()
        assert slot.acquire() is None  # non-blocking: returns at once while held
        assert time.monotonic() - began < 0.5

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        killed_at = time.monotonic()

        fence = slot.acquire(blocking_timeout=3)
        assert fence is not None, "the slot never came back after its holder died"
        with fence:
            assert time.monotonic() - killed_at < 2.0
            assert fence.token > old
            # The killed job's late publish is refused; the new holder's is accepted.
            assert not check_fence(client, name, old)
            assert check_fence(client, name, fence.token)
            published: list[int] = []
            assert fence.publish_if_current(lambda: published.append(fence.token))
            assert published == [fence.token]
            assert slot.holder() == {"token": fence.token, "ttl_ms": pytest.approx(1000, abs=1000)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not check_fence(client, name, fence.token)  # released: nobody holds it


def test_nonblocking_acquire_returns_none_immediately(client: redis.Redis, name: str) -> None:
    first = FencedSlot(client, name, ttl_s=5.0)
    other = FencedSlot(client, name, ttl_s=5.0)
    with first.acquire() as fence:  # type: ignore[union-attr]
        began = time.monotonic()
        assert other.acquire() is None
        assert time.monotonic() - began < 0.2
        began = time.monotonic()
        assert other.acquire(blocking_timeout=0.3) is None
        assert 0.1 <= time.monotonic() - began < 1.0
        with pytest.raises(RuntimeError):
            first.acquire()
        assert fence.is_current()
    second = other.acquire()
    assert second is not None and second.token == fence.token + 1
    assert not fence.is_current()
    second.release()


def test_release_of_expired_lock_does_not_raise(client: redis.Redis, name: str) -> None:
    slot = FencedSlot(client, name, ttl_s=0.2, heartbeat_s=30)  # no renewal in time
    fence = slot.acquire()
    assert fence is not None
    wait_for(lambda: not client.exists(name), 3, "the lock to expire")
    assert not fence.is_current()
    assert not check_fence(client, name, fence.token)  # latest token, but nobody holds it
    assert slot.holder() is None
    slot.release()
    fence.release()  # twice is fine too
    assert slot.acquire() is not None
    slot.release()


def test_lost_lock_is_noticed_by_the_heartbeat(client: redis.Redis, name: str) -> None:
    slot = FencedSlot(client, name, ttl_s=1.0, heartbeat_s=0.05)
    fence = slot.acquire()
    assert fence is not None
    client.delete(name)  # e.g. expired while the holder was frozen
    wait_for(lambda: fence.lost, 2, "the heartbeat to notice")
    assert not fence.is_current()
    assert not fence.publish_if_current(lambda: pytest.fail("a lost holder published"))
    slot.release()
