"""A circuit breaker around the HQ engine, kept in Redis so that every worker shares it.

Numbers from the seed: after **5 consecutive failures** the breaker opens and refuses calls
for **30 s**; then it is *half-open* and exactly **one** trial call is let through (across all
processes). If the trial succeeds the breaker closes (the failure count resets); if it fails
the breaker opens again for another 30 s.

Why the state is shared in Redis rather than kept per process: several HQ workers (Celery
processes, possibly on different hosts) talk to the same engine. When it breaks they must
stop hammering it *together*, and when it may have recovered only one of them may probe it;
a breaker per process would let every worker pay its own 5 failures and send its own trial.

Keys (``name`` identifies the protected dependency, e.g. ``"hq"``):

* ``avatar:breaker:{name}:state`` -- hash with ``state`` (``closed``/``open``), ``failures``
  (consecutive) and ``opened_at`` (clock seconds when it last opened).
* ``avatar:breaker:{name}:trial`` -- the half-open trial claim (``SET NX`` with an expiry, so a
  trial holder that dies does not wedge the breaker; the expiry is ``trial_timeout_s``).

*half-open* is not stored: it is ``open`` whose recovery timeout has passed. Every read and
transition runs in one Lua script, so it is atomic across processes. The time comes from the
caller's ``clock`` (``time.time`` by default; workers are expected to have synchronised
clocks), which also lets tests inject a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from avatar.metrics import BREAKER_EVENTS

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "CircuitOpen"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

KEY_PREFIX = "avatar:breaker"

# KEYS: state hash, trial key.
# ARGV: op (read|allow|success|failure), now, failure_threshold, recovery_timeout_s, trial_ms.
# Returns: {effective state, consecutive failures, opened_at ('' if none), retry_in_s, allowed}.
_SCRIPT = """
local key, trial = KEYS[1], KEYS[2]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local timeout = tonumber(ARGV[4])
local trial_ms = tonumber(ARGV[5])

local state = redis.call('HGET', key, 'state') or 'closed'
local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
local opened_at = redis.call('HGET', key, 'opened_at') or ''

local function effective()
  if state == 'open' and opened_at ~= '' and now >= tonumber(opened_at) + timeout then
    return 'half_open'
  end
  return state
end

local eff = effective()
local allowed = 0
local retry = 0

if op == 'allow' then
  if eff == 'closed' then
    allowed = 1
  elseif eff == 'half_open' then
    if redis.call('SET', trial, ARGV[2], 'NX', 'PX', trial_ms) then
      allowed = 1
    else
      local left = redis.call('PTTL', trial)
      if left > 0 then retry = left / 1000 end
    end
  end
elseif op == 'success' then
  state = 'closed'
  failures = 0
  opened_at = ''
  redis.call('HSET', key, 'state', state, 'failures', failures)
  redis.call('HDEL', key, 'opened_at')
  redis.call('DEL', trial)
elseif op == 'failure' then
  failures = failures + 1
  if eff == 'half_open' or (eff == 'closed' and failures >= threshold) then
    state = 'open'
    opened_at = ARGV[2]
    redis.call('HSET', key, 'state', state, 'failures', failures, 'opened_at', opened_at)
    redis.call('DEL', trial)
  else
    -- closed below the threshold, or already open (a late failure of a call that started
    -- before it opened): count it, but do not push the retry time back.
    redis.call('HSET', key, 'state', state, 'failures', failures)
  end
end

eff = effective()
if eff == 'open' then
  retry = tonumber(opened_at) + timeout - now
end
return {eff, tostring(failures), opened_at, string.format('%.6f', retry), allowed}
"""


class CircuitOpen(RuntimeError):
    """The breaker refused the call; ``retry_in_s`` says when it may be tried again."""

    def __init__(self, name: str, retry_in_s: float, state: str = OPEN) -> None:
        self.name = name
        self.retry_in_s = retry_in_s
        self.state = state
        super().__init__(f"circuit {name!r} is {state}; retry in {retry_in_s:.1f} s")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CircuitBreaker:
    """Closed -> (``failure_threshold`` consecutive failures) -> open for ``recovery_timeout_s``
    -> half-open (one trial across all processes) -> closed on success / open on failure."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        trial_timeout_s: float | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if recovery_timeout_s <= 0:
            raise ValueError("recovery_timeout_s must be positive")
        self.client = client
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = float(recovery_timeout_s)
        # How long a half-open trial claim lasts if its holder never reports back.
        self.trial_timeout_s = float(trial_timeout_s if trial_timeout_s is not None else recovery_timeout_s)
        self.clock = clock
        self.state_key = f"{KEY_PREFIX}:{name}:state"
        self.trial_key = f"{KEY_PREFIX}:{name}:trial"
        self._script = client.register_script(_SCRIPT)

    # -- the one atomic step ---------------------------------------------------------------
    def _run(self, op: str) -> dict[str, Any]:
        reply = self._script(
            keys=[self.state_key, self.trial_key],
            args=[
                op,
                repr(float(self.clock())),
                self.failure_threshold,
                repr(self.recovery_timeout_s),
                max(1, int(self.trial_timeout_s * 1000)),
            ],
        )
        state, failures, opened_at, retry, allowed = reply
        opened = _text(opened_at)
        if op != "read":
            event = op if op != "allow" else ("allowed" if int(allowed) == 1 else "refused")
            BREAKER_EVENTS.labels(breaker=self.name, event=event).inc()
        return {
            "state": _text(state),
            "consecutive_failures": int(_text(failures)),
            "opened_at": float(opened) if opened else None,
            "retry_in_s": max(0.0, float(_text(retry))),
            "allowed": int(allowed) == 1,
        }

    # -- public API ------------------------------------------------------------------------
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (open whose recovery timeout has passed)."""
        return self._run("read")["state"]

    def allow(self) -> bool:
        """May a call go ahead now? In half-open this claims the single trial (atomically)."""
        return self._run("allow")["allowed"]

    def record_success(self) -> None:
        """Close the breaker and reset the consecutive-failure count."""
        self._run("success")

    def record_failure(self) -> None:
        """Count a failure; open at the threshold, or re-open if half-open."""
        self._run("failure")

    @contextmanager
    def guard(self) -> Iterator[None]:
        """``with breaker.guard(): call_engine()`` -- raises :class:`CircuitOpen` if refused,
        records a failure if the block raises (and re-raises), a success otherwise."""
        result = self._run("allow")
        if not result["allowed"]:
            raise CircuitOpen(self.name, result["retry_in_s"], result["state"])
        try:
            yield
        except Exception:
            self.record_failure()
            raise
        self.record_success()

    def snapshot(self) -> dict[str, Any]:
        """For /health: name, state, consecutive_failures, opened_at, retry_in_s, settings."""
        result = self._run("read")
        return {
            "name": self.name,
            "state": result["state"],
            "consecutive_failures": result["consecutive_failures"],
            "opened_at": result["opened_at"],
            "retry_in_s": result["retry_in_s"],
            "failure_threshold": self.failure_threshold,
            "recovery_timeout_s": self.recovery_timeout_s,
        }

    def reset(self) -> None:
        """Forget everything (back to closed with no failures); for operators and tests."""
        self.client.delete(self.state_key, self.trial_key)
