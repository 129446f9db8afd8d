"""The HQ lane's single-slot lock: a Redis lock kept alive by a heartbeat, plus a fencing token.

Why a lock and not a dedicated ``--concurrency 1`` worker
--------------------------------------------------------
A concurrency-1 worker serialises jobs only *inside one worker process*. In the two-box
plan the HQ lane can have several workers (one per GPU, possibly on different machines),
so "one HQ job at a time" has to be enforced somewhere they all see: Redis. Hence
:class:`FencedSlot`, built on redis-py's :class:`redis.lock.Lock`.

Acquisition is **non-blocking by default** (``blocking_timeout=0``). A Celery task that
finds the slot taken must not spin or sleep while holding a worker process; it calls
``self.retry(countdown=...)`` instead and goes back to the broker. With ``acks_late`` the
message is only acknowledged once the job has finished, so a worker that dies while
holding the slot loses neither the job (it is redelivered) nor the slot for long (the
lock expires ``ttl_s`` after the last heartbeat).

Heartbeat and fencing
---------------------
The lock has a short TTL (``ttl_s``) and a daemon thread resets it every ``heartbeat_s``
(default ``ttl_s / 3``) with ``Lock.reacquire()``. A holder that is killed or frozen stops
renewing, the key expires and another worker may take the slot.

A frozen holder may wake up later and try to publish a stale result. To refuse it, every
successful acquisition atomically increments a counter ``{name}:fence`` and the holder gets
that number as its :class:`Fence` token. Right before publishing, the job checks (one Lua
script, so atomically) that its token is still the latest one *and* that the lock is still
held by the acquisition that minted it: :meth:`Fence.is_current`,
:meth:`Fence.publish_if_current` or :func:`check_fence`.

Keys used, for a slot named ``name``: ``name`` (the redis-py lock, value = the holder's
random lock token, with a TTL), ``name:fence`` (the monotonic counter, no TTL) and
``name:owner`` (the lock token of the holder that minted the latest fence token).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from avatar.metrics import LOCK_WAIT

log = logging.getLogger(__name__)

# KEYS: lock, fence, owner. ARGV: lock token of the new holder.
# Mint a fence token only if the lock is (still) ours, and remember whose token it is.
_MINT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local token = redis.call('incr', KEYS[2])
redis.call('set', KEYS[3], ARGV[1])
return token
"""

# KEYS: lock, fence, owner. ARGV: fence token, [expected lock token].
# Current = the lock is held, by the acquisition that minted the latest token, and that
# latest token is ours (and, when given, the lock holder is the expected one).
_CHECK = """
local holder = redis.call('get', KEYS[1])
if not holder then return 0 end
if redis.call('get', KEYS[3]) ~= holder then return 0 end
if ARGV[2] and ARGV[2] ~= holder then return 0 end
if tostring(redis.call('get', KEYS[2])) ~= ARGV[1] then return 0 end
return 1
"""

# KEYS: lock, fence, owner. Returns {pttl, fence token or -1}.
_HOLDER = """
local pttl = redis.call('pttl', KEYS[1])
if pttl < 0 then return {pttl, -1} end
local holder = redis.call('get', KEYS[1])
if redis.call('get', KEYS[3]) ~= holder then return {pttl, -1} end
return {pttl, tonumber(redis.call('get', KEYS[2]) or '-1')}
"""


def _keys(name: str) -> list[str]:
    return [name, f"{name}:fence", f"{name}:owner"]


def check_fence(client: redis.Redis, name: str, token: int) -> bool:
    """True only if ``token`` is the latest fence token of slot ``name`` and its holder
    still holds the lock. A job calls this right before publishing its result."""
    script = client.register_script(_CHECK)
    return bool(script(keys=_keys(name), args=[int(token)]))


class Fence:
    """A held slot: the fencing ``token`` plus the means to check and release it.

    Use as a context manager (``with slot.acquire() as fence:``) to release on exit.
    """

    def __init__(self, slot: FencedSlot, token: int, lock: Lock, lock_token: bytes) -> None:
        self.token = token
        self.name = slot.name
        self._slot = slot
        self._lock = lock
        self._lock_token = lock_token
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """True once the heartbeat failed to renew the lock (or after release)."""
        return self._lost.is_set()

    def is_current(self) -> bool:
        """True only if this token is the latest one in Redis and the lock is still ours."""
        if self._lost.is_set():
            return False
        try:
            return bool(
                self._slot._check(keys=_keys(self.name), args=[self.token, self._lock_token])
            )
        except RedisError:
            return False

    def publish_if_current(self, fn: Callable[[], Any]) -> bool:
        """Call ``fn`` only if the fence is current; return whether it was called.

        The check is atomic in Redis; ``fn`` runs right after it, while the heartbeat keeps
        the lock, so a holder that lost the slot before this call is always refused.
        """
        if not self.is_current():
            return False
        fn()
        return True

    def release(self) -> None:
        self._slot._release(self)

    def __enter__(self) -> Fence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Fence(name={self.name!r}, token={self.token}, lost={self.lost})"

    # -- heartbeat -------------------------------------------------------------------------

    def _start_heartbeat(self, every_s: float, ttl_s: float) -> None:
        self._thread = threading.Thread(
            target=self._heartbeat,
            args=(every_s, ttl_s),
            name=f"fence-heartbeat:{self.name}:{self.token}",
            daemon=True,
        )
        self._thread.start()

    def _heartbeat(self, every_s: float, ttl_s: float) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(every_s):
            try:
                self._lock.reacquire()
                last_ok = time.monotonic()
            except LockError:  # includes LockNotOwnedError: expired or taken by another
                log.warning("slot %s lost (fence token %s)", self.name, self.token)
                self._lost.set()
                return
            except RedisError as exc:  # transient: keep trying until the TTL must be gone
                if time.monotonic() - last_ok >= ttl_s:
                    log.warning("slot %s lost, Redis unreachable: %s", self.name, exc)
                    self._lost.set()
                    return

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)


class FencedSlot:
    """A global single slot (e.g. the HQ lane) with heartbeat renewal and fencing tokens."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        ttl_s: float = 30.0,
        heartbeat_s: float | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if heartbeat_s is None:
            heartbeat_s = ttl_s / 3
        if heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        self.client = client
        self.name = name
        self.ttl_s = float(ttl_s)
        self.heartbeat_s = float(heartbeat_s)
        self._mint = client.register_script(_MINT)
        self._check = client.register_script(_CHECK)
        self._holder = client.register_script(_HOLDER)
        self._fence: Fence | None = None
        self._mutex = threading.Lock()

    def acquire(self, *, blocking_timeout: float | None = 0) -> Fence | None:
        """Take the slot; return its :class:`Fence`, or None if it is held elsewhere.

        ``blocking_timeout=0`` (default) tries once; a number waits up to that many seconds;
        None waits indefinitely.
        """
        with self._mutex:
            if self._fence is not None:
                raise RuntimeError(f"slot {self.name!r} is already held by this object")
            # thread_local=False: the heartbeat thread must see the token set here.
            lock = self.client.lock(self.name, timeout=self.ttl_s, thread_local=False)
            started = time.perf_counter()
            if blocking_timeout == 0:
                ok = lock.acquire(blocking=False)
            else:
                ok = lock.acquire(blocking=True, blocking_timeout=blocking_timeout)
            LOCK_WAIT.labels(lock=self.name, outcome="acquired" if ok else "busy").observe(time.perf_counter() - started)
            if not ok:
                return None
            lock_token = lock.local.token
            token = int(self._mint(keys=_keys(self.name), args=[lock_token]))
            if token == 0:  # expired between SET NX and the mint: only with absurd TTLs
                return None
            fence = Fence(self, token, lock, lock_token)
            fence._start_heartbeat(self.heartbeat_s, self.ttl_s)
            self._fence = fence
            return fence

    def release(self) -> None:
        """Stop the heartbeat and release the slot if still ours; no error if it expired."""
        fence = self._fence
        if fence is not None:
            self._release(fence)

    def _release(self, fence: Fence) -> None:
        fence._stop_heartbeat()
        try:
            fence._lock.release()
        except LockError:  # already expired or taken by someone else: nothing to release
            pass
        fence._lost.set()
        with self._mutex:
            if self._fence is fence:
                self._fence = None

    def holder(self) -> dict[str, int | None] | None:
        """For /health: ``{"token", "ttl_ms"}`` of the current holder, or None when free.

        ``token`` is None in the instant between a new holder's lock and its fence token.
        """
        pttl, token = self._holder(keys=_keys(self.name))
        pttl, token = int(pttl), int(token)
        if pttl == -2:
            return None
        return {"token": token if token >= 0 else None, "ttl_ms": pttl}
