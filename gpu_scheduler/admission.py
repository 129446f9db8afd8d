"""Admission control: how many sessions one box serves at once.

The seed sizes one RTX 4090 for 3-5 concurrent conversations, so by default the sixth
session is told the system is busy (with its place in line and when to retry) instead of
making every conversation slow. A session holds its slot while one of its sockets is
connected and it has been active within the idle timeout; an idle session loses its slot
to whoever is waiting. All bookkeeping is in Redis (one Lua script per operation), so
every API process shares one count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

PREFIX = "avatar:admission"

# KEYS: active zset (session -> last activity), sockets hash (session -> open sockets),
#       waiting zset (session -> first refusal time)
# ARGV: session, now, idle_timeout_s, max_active, new_socket ("1": a socket is opening;
#       "0": activity on an open socket, which only refreshes the session's slot)
# Returns {admitted (1/0), position in the waiting line (0 when admitted), active count}
_ADMIT = """
local now = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
for _, sid in ipairs(expired) do
  redis.call('ZREM', KEYS[1], sid)
  redis.call('HDEL', KEYS[2], sid)
end
local is_member = redis.call('ZSCORE', KEYS[1], ARGV[1])
local active = redis.call('ZCARD', KEYS[1])
if is_member or active < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  -- a (re-)admitted session has one open socket at least: the one asking
  if ARGV[5] == '1' or not is_member then redis.call('HINCRBY', KEYS[2], ARGV[1], 1) end
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {1, 0, redis.call('ZCARD', KEYS[1])}
end
-- refused: keep a waiting line (first refusal time; entries older than 10 minutes dropped)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 600)
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1])
return {0, redis.call('ZRANK', KEYS[3], ARGV[1]) + 1, active}
"""

# KEYS: active, sockets. ARGV: session. Frees the slot when its last socket closes.
_LEAVE = """
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
if left <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return left
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
        self, client: redis.Redis, *, max_active: int, idle_timeout_s: float, retry_after_s: float = 15.0
    ) -> None:
        self.r = client
        self.max_active = max_active
        self.idle_timeout_s = idle_timeout_s
        self.retry_after_s = retry_after_s
        self._keys = [f"{PREFIX}:active", f"{PREFIX}:sockets", f"{PREFIX}:waiting"]
        self._admit = client.register_script(_ADMIT)
        self._leave = client.register_script(_LEAVE)

    def admit(self, session_id: str, *, new_socket: bool = True) -> Admission:
        """A socket of ``session_id`` opens (``new_socket``), or an open one is active again:
        either way the session keeps or regains a slot if it can, in one round trip. A
        session that went idle past the timeout competes for a slot like a new one."""
        admitted, position, active = self._admit(
            keys=self._keys,
            args=[session_id, time.time(), self.idle_timeout_s, self.max_active, int(new_socket)],
        )
        return Admission(bool(admitted), int(position), int(active), self.retry_after_s)

    def leave(self, session_id: str) -> None:
        """A socket of ``session_id`` closed."""
        self._leave(keys=self._keys[:2], args=[session_id])

    def snapshot(self) -> dict[str, object]:
        return {
            "max_active": self.max_active,
            "active": int(self.r.zcard(self._keys[0])),
            "waiting": int(self.r.zcard(self._keys[2])),
            "idle_timeout_s": self.idle_timeout_s,
        }
