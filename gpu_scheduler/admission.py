"""Admission control: how many sessions one box serves at once.

The seed sizes one RTX 4090 for 3-5 concurrent conversations, so by default the sixth
session is told the system is busy (with its place in line and when to retry) instead of
making every conversation slow. A session holds its slot while one of its sockets is alive
and it has been active within the idle timeout; an idle session loses its slot to whoever
is waiting.

A slot cannot outlive its sockets. Each admitted socket is registered under its own id (one
socket: one registration, so a repeated connect over one socket takes nothing more) with a
heartbeat deadline a few seconds ahead; the API process that holds the socket renews it
(:meth:`AdmissionControl.renew`, from a background task) and releases it when the socket
closes. A crashed API renews nothing: its sockets' slots lapse within ``heartbeat_s``.

All bookkeeping is in Redis, one Lua script per operation timed by the Redis server's own
clock, so every API process shares one count and no process's clock skews another's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis

PREFIX = "avatar:admission"

# KEYS: slots (zset session -> last activity), live (hash session -> registered sockets),
#       waiting (zset session -> first refusal), owners (hash socket -> session),
#       beats (zset socket -> heartbeat deadline)
_PRELUDE = """
local slots, live, waiting, owners, beats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
-- a socket goes: its session loses the slot with its last socket
local function release(sock)
  local session = redis.call('HGET', owners, sock)
  redis.call('HDEL', owners, sock)
  redis.call('ZREM', beats, sock)
  if session and redis.call('HINCRBY', live, session, -1) <= 0 then
    redis.call('HDEL', live, session)
    redis.call('ZREM', slots, session)
  end
  return session
end
-- sockets nobody renewed (their API died) go; sessions idle past the timeout lose the slot
-- but keep their sockets: activity on one of them competes for a slot again
local function purge(idle_timeout)
  for _, sock in ipairs(redis.call('ZRANGEBYSCORE', beats, '-inf', now)) do release(sock) end
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now - idle_timeout)
end
"""

# ARGV: session, socket, idle_timeout_s, max_active, heartbeat_s
# Returns {admitted (1/0), position in the waiting line (0 when admitted), active count}
_ADMIT = _PRELUDE + """
purge(tonumber(ARGV[3]))
local session, sock = ARGV[1], ARGV[2]
local held = redis.call('HGET', owners, sock)
if held and held ~= session then release(sock) held = false end  -- a socket speaks for one session
if redis.call('ZSCORE', slots, session) or redis.call('ZCARD', slots) < tonumber(ARGV[4]) then
  redis.call('ZADD', slots, now, session)
  if not held then
    redis.call('HSET', owners, sock, session)
    redis.call('HINCRBY', live, session, 1)
  end
  redis.call('ZADD', beats, now + tonumber(ARGV[5]), sock)
  redis.call('ZREM', waiting, session)
  return {1, 0, redis.call('ZCARD', slots)}
end
-- refused: keep a waiting line (first refusal time; entries older than 10 minutes dropped)
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now - 600)
redis.call('ZADD', waiting, 'NX', now, session)
return {0, redis.call('ZRANK', waiting, session) + 1, redis.call('ZCARD', slots)}
"""

# ARGV: socket. Returns the session it spoke for (nil when it held nothing).
_LEAVE = _PRELUDE + "return release(ARGV[1])"

# ARGV: idle_timeout_s, heartbeat_s, sockets... Renews those still registered (before the
# purge, so a process that stalled past a deadline keeps what nobody took meanwhile) and
# returns the ones that are not.
_RENEW = _PRELUDE + """
local deadline, lost = now + tonumber(ARGV[2]), {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', owners, ARGV[i]) == 1 then redis.call('ZADD', beats, deadline, ARGV[i])
  else table.insert(lost, ARGV[i]) end
end
purge(tonumber(ARGV[1]))
return lost
"""


@dataclass(frozen=True)
class Admission:
    admitted: bool
    position: int  # place in the waiting line when refused (1 = next)
    active: int
    retry_after_s: float

    @property
    def message(self) -> str:
        """What a refused user reads (the ``BUSY`` error)."""
        return (
            f"系統忙碌中：目前有 {self.active} 個對話進行中，您排在第 {self.position} 位，"
            f"請約 {self.retry_after_s:.0f} 秒後再試（server busy）"
        )


class AdmissionControl:
    def __init__(
        self, client: redis.Redis, *, max_active: int, idle_timeout_s: float, heartbeat_s: float = 10.0,
        retry_after_s: float = 15.0, prefix: str = PREFIX,
    ) -> None:
        self.r = client
        self.max_active = max_active
        self.idle_timeout_s = idle_timeout_s
        self.heartbeat_s = heartbeat_s
        self.retry_after_s = retry_after_s
        self._keys = [f"{prefix}:{name}" for name in ("slots", "live", "waiting", "owners", "beats")]
        self._admit = client.register_script(_ADMIT)
        self._leave = client.register_script(_LEAVE)
        self._renew = client.register_script(_RENEW)

    @property
    def renew_every_s(self) -> float:
        """How often a process renews its sockets: three tries before a deadline passes."""
        return self.heartbeat_s / 3

    def admit(self, session_id: str, socket_id: str) -> Admission:
        """``socket_id`` of ``session_id`` opens, or is active again: either way the session
        keeps or regains a slot if it can, in one round trip. A session that went idle past
        the timeout competes for a slot like a new one. Asking again over the same socket
        never takes a second registration."""
        admitted, position, active = self._admit(
            keys=self._keys,
            args=[session_id, socket_id, self.idle_timeout_s, self.max_active, self.heartbeat_s],
        )
        return Admission(bool(admitted), int(position), int(active), self.retry_after_s)

    def leave(self, socket_id: str) -> str | None:
        """``socket_id`` closed: the session it spoke for, or None if it held nothing (closing
        twice frees nothing twice)."""
        session = self._leave(keys=self._keys, args=[socket_id])
        return session.decode() if isinstance(session, bytes) else session

    def renew(self, socket_ids: Iterable[str]) -> list[str]:
        """Push the heartbeat deadline of this process's live sockets; returns those that are
        no longer registered (they lapsed: their next activity asks for a slot again)."""
        lost = self._renew(keys=self._keys, args=[self.idle_timeout_s, self.heartbeat_s, *socket_ids])
        return [s.decode() if isinstance(s, bytes) else s for s in lost]

    def snapshot(self) -> dict[str, object]:
        return {
            "max_active": self.max_active,
            "active": int(self.r.zcard(self._keys[0])),
            "waiting": int(self.r.zcard(self._keys[2])),
            "idle_timeout_s": self.idle_timeout_s,
            "heartbeat_s": self.heartbeat_s,
        }
