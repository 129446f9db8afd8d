"""The VRAM budget of one GPU, shared by every worker process that loads models onto it.

Models live in worker processes (one copy of each model per GPU, shared by every
session), so the bookkeeping lives in Redis, keyed per GPU under
``{key_prefix}:gpu:{gpu}:`` (``key_prefix`` defaults to ``avatar``):

- ``footprint``  hash  model -> MiB it holds while loaded
- ``residency``  hash  model -> ``resident`` | ``on_demand``
- ``in_use``     hash  model -> how many jobs are using it now (never evicted while > 0)
- ``owner``      hash  model -> ``hostname:pid`` of the process holding the weights
- ``last_used``  zset  model -> last reserve/acquire/release time (LRU order)
- ``evict_requests`` set of ``owner<TAB>model``: evictions the owner still has to carry out
- ``peak_mb``    the highest total ever booked (a check that the budget held)

Every change runs as one Lua script, so concurrent workers never see or leave a half
update, and the booked total never exceeds the budget.

Evictions: :meth:`VRAMBudget.reserve` evicts least-recently-used *idle on-demand* models
when the new one would not fit. Their bookkeeping is removed at once (the room is booked
for the newcomer) and, because only the owning process can free the weights, a notice is
added to ``evict_requests``; the owner reads it with :meth:`VRAMBudget.pending_evictions`
(:meth:`gpu_scheduler.model_host.ModelHost.apply_evictions` does so before every load) and drops the model. Until
it does, the device may briefly hold both; when CUDA is available the capacity also never
exceeds what the device reports free, so a slow owner delays loads instead of crashing them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

import redis

from avatar.metrics import MODEL_EVICTIONS
from gpu_scheduler.registry import ModelSpec

DEFAULT_KEY_PREFIX = "avatar"
_FIELDS = ("footprint", "residency", "in_use", "owner", "last_used", "evict_requests", "peak_mb")
_SEP = "\t"

# KEYS (all scripts): footprint, residency, in_use, owner, last_used, evict_requests, peak_mb.
_REMOVE_LUA = """
local function remove(m)
  redis.call('HDEL', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('HDEL', KEYS[4], m)
  redis.call('ZREM', KEYS[5], m)
end
"""

# ARGV: name, footprint, residency, owner, now, budget, device_free (-1: unknown), hold ('1':
# count one use at once, so the model cannot be evicted while its owner loads it), spare_s
# (models used less than this long ago are not evicted).
# Returns {1, used, cap, owner} already loaded; {2, used, cap, evicted...}; {3, used, cap, old
# owner} handed over from an idle holder; {0, used, cap} no room.
_RESERVE_LUA = _REMOVE_LUA + """
local name, fp, now = ARGV[1], tonumber(ARGV[2]), ARGV[5]
local cap, device_free = tonumber(ARGV[6]), tonumber(ARGV[7])
local used = 0
local fps = redis.call('HGETALL', KEYS[1])
for i = 2, #fps, 2 do used = used + tonumber(fps[i]) end
if device_free >= 0 and used + device_free < cap then cap = used + device_free end
if redis.call('HEXISTS', KEYS[1], name) == 1 then
  local holder = redis.call('HGET', KEYS[4], name)
  if holder ~= ARGV[4] and tonumber(redis.call('HGET', KEYS[3], name) or '0') <= 0 then
    -- Another process holds it idle: it is handed over (the holder is told to drop its copy),
    -- so two lanes that speak with one model on one GPU take turns instead of failing.
    redis.call('SADD', KEYS[6], holder .. '\t' .. name)
    redis.call('HSET', KEYS[4], name, ARGV[4])
    redis.call('HSET', KEYS[3], name, ARGV[8] == '1' and 1 or 0)
    redis.call('ZADD', KEYS[5], now, name)
    return {3, used, cap, holder}
  end
  redis.call('ZADD', KEYS[5], now, name)
  if ARGV[8] == '1' and holder == ARGV[4] then redis.call('HINCRBY', KEYS[3], name, 1) end
  return {1, used, cap, holder}
end
local victims, freed = {}, 0
if used + fp > cap then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    if used - freed + fp <= cap then break end
    if redis.call('HGET', KEYS[2], m) == 'on_demand'
        and tonumber(redis.call('HGET', KEYS[3], m) or '0') <= 0
        and tonumber(now) - tonumber(redis.call('ZSCORE', KEYS[5], m) or '0') >= tonumber(ARGV[9]) then
      freed = freed + tonumber(redis.call('HGET', KEYS[1], m) or '0')
      table.insert(victims, m)
    end
  end
  if used - freed + fp > cap then return {0, used, cap} end
  for _, m in ipairs(victims) do
    local owner = redis.call('HGET', KEYS[4], m)
    if owner then redis.call('SADD', KEYS[6], owner .. '\\t' .. m) end
    remove(m)
  end
end
redis.call('HSET', KEYS[1], name, fp)
redis.call('HSET', KEYS[2], name, ARGV[3])
redis.call('HSET', KEYS[3], name, ARGV[8] == '1' and 1 or 0)
redis.call('HSET', KEYS[4], name, ARGV[4])
redis.call('ZADD', KEYS[5], now, name)
used = used - freed + fp
if used > tonumber(redis.call('GET', KEYS[7]) or '0') then redis.call('SET', KEYS[7], used) end
local out = {2, used, cap}
for _, m in ipairs(victims) do table.insert(out, m) end
return out
"""

# ARGV: name, delta (+1 / -1), now. Returns the new count, or -1 if not loaded.
_USE_LUA = """
local name = ARGV[1]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[3], name, tonumber(ARGV[2]))
if n < 0 then redis.call('HSET', KEYS[3], name, 0); n = 0 end
redis.call('ZADD', KEYS[5], ARGV[3], name)
return n
"""

# ARGV: name, owner ('' any), force ('1'/'0'). Returns 1 removed, 0 not loaded,
# -1 owned by another process, -2 in use.
_UNLOAD_LUA = _REMOVE_LUA + """
local name = ARGV[1]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[4], name) ~= ARGV[2] then return -1 end
if ARGV[3] ~= '1' and tonumber(redis.call('HGET', KEYS[3], name) or '0') > 0 then return -2 end
remove(name)
return 1
"""

# ARGV: now, idle_s, owner ('' any). Removes idle on-demand models; returns their names.
_UNLOAD_IDLE_LUA = _REMOVE_LUA + """
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
local entries = redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local m, last = entries[i], tonumber(entries[i + 1])
  if now - last > idle and redis.call('HGET', KEYS[2], m) == 'on_demand'
      and tonumber(redis.call('HGET', KEYS[3], m) or '0') <= 0
      and (ARGV[3] == '' or redis.call('HGET', KEYS[4], m) == ARGV[3]) then
    remove(m)
    table.insert(out, m)
  end
end
return out
"""


class BudgetExceeded(RuntimeError):
    """The model does not fit even after evicting every idle on-demand model."""

    def __init__(self, name: str, needed_mb: int, used_mb: int, capacity_mb: int) -> None:
        super().__init__(
            f"{name} needs {needed_mb} MiB; {used_mb} of {capacity_mb} MiB are booked "
            "by resident or in-use models"
        )
        self.name, self.needed_mb, self.used_mb, self.capacity_mb = name, needed_mb, used_mb, capacity_mb


class ModelNotLoaded(KeyError):
    """The budget has no such model loaded (never reserved, unloaded or evicted)."""


class ModelInUse(RuntimeError):
    """Refused to unload a model that jobs are using (pass ``force=True`` to override)."""


class ModelOwnedElsewhere(RuntimeError):
    """Another process holds this model on the GPU (one copy per GPU)."""


class ModelState(TypedDict):
    footprint_mb: int
    residency: str
    in_use: int
    idle_s: float
    owner: str


class BudgetSnapshot(TypedDict):
    gpu: str
    budget_mb: int
    used_mb: int
    free_mb: int
    device_free_mb: int | None
    peak_mb: int
    models: dict[str, ModelState]
    pending_evictions: list[str]


def default_owner() -> str:
    """This process's owner id: ``hostname:pid`` (evaluated per call, so right after a fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_available() -> bool:
    """True only if torch is installed and sees a GPU; never initialises CUDA otherwise."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class VRAMBudget:
    """Bookkeeping of what is loaded on one GPU, shared through Redis by all its workers."""

    def __init__(
        self,
        client: redis.Redis,
        gpu: str,
        *,
        budget_mb: int,
        idle_unload_s: float,
        clock: Callable[[], float] = time.time,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        probe_device: bool = True,
    ) -> None:
        """``probe_device=False`` never imports torch (e.g. the API's /health snapshot)."""
        if budget_mb <= 0:
            raise ValueError("budget_mb must be > 0")
        self.client = client
        self.gpu = str(gpu)
        self.budget_mb = int(budget_mb)
        self.idle_unload_s = float(idle_unload_s)
        self.clock = clock
        self.probe_device = probe_device
        self.key_base = f"{key_prefix}:gpu:{self.gpu}"
        self._keys = [f"{self.key_base}:{field}" for field in _FIELDS]
        self._reserve = client.register_script(_RESERVE_LUA)
        self._use = client.register_script(_USE_LUA)
        self._unload = client.register_script(_UNLOAD_LUA)
        self._unload_idle = client.register_script(_UNLOAD_IDLE_LUA)

    @property
    def owner(self) -> str:
        return default_owner()

    def all_keys(self) -> list[str]:
        """Every Redis key this budget may write (for cleanup in tests and tools)."""
        return list(self._keys)

    # --- device -----------------------------------------------------------------------

    def free_device_mb(self) -> int | None:
        """Free memory the device reports (MiB), or None without CUDA: then only the
        configured budget limits loads."""
        if not self.probe_device or not _cuda_available():
            return None
        import torch

        free_bytes, _total = torch.cuda.mem_get_info()
        return int(free_bytes // (1024 * 1024))

    # --- reservations -------------------------------------------------------------------

    def reserve(
        self, spec: ModelSpec, *, owner: str | None = None, hold: bool = False, spare_recent_s: float = 0.0,
    ) -> list[str]:
        """Book room for ``spec`` and mark it loaded by ``owner`` (default: this process).

        ``hold``: count one use of it in the same step (release it with :meth:`release`), so
        no other reservation evicts it between booking and use (a load takes seconds).
        ``spare_recent_s``: idle models used less than this long ago are not evicted (a
        background load must not take the room of a model live jobs are using in turn).
        Already loaded by ``owner``: only touches its last-used time (and counts the use) and
        returns ``[]``. Loaded by another process that is not using it: handed over to
        ``owner`` (the other is told to drop its copy, as after an eviction) and
        ``[spec.name]`` returned. In use by another process: ``[]``, the booking unchanged
        (:meth:`owner_of` tells who holds it).
        Otherwise evicts least-recently-used idle on-demand models until it fits and
        returns their names (their owners get an eviction notice). Raises
        :class:`BudgetExceeded`, evicting nothing, if it cannot fit.
        """
        device_free = self.free_device_mb()
        result = self._reserve(
            keys=self._keys,
            args=[
                spec.name,
                spec.footprint_mb,
                spec.residency,
                owner or self.owner,
                repr(float(self.clock())),
                self.budget_mb,
                -1 if device_free is None else device_free,
                "1" if hold else "0",
                repr(float(spare_recent_s)),
            ],
        )
        status, used, cap = int(result[0]), int(result[1]), int(result[2])
        if status == 0:
            raise BudgetExceeded(spec.name, spec.footprint_mb, used, cap)
        if status == 1:
            return []
        if status == 3:  # its room stays booked, now for the new holder
            MODEL_EVICTIONS.labels(gpu=self.gpu, reason="handover").inc()
            return [spec.name]
        victims = [_s(name) for name in result[3:]]
        if victims:
            MODEL_EVICTIONS.labels(gpu=self.gpu, reason="lru").inc(len(victims))
        return victims

    def owner_of(self, name: str) -> str | None:
        value = self.client.hget(self._keys[3], name)
        return None if value is None else _s(value)

    def is_loaded(self, name: str) -> bool:
        return bool(self.client.hexists(self._keys[0], name))

    def pending_evictions(self, owner: str | None = None) -> list[str]:
        """Models evicted by :meth:`reserve` that ``owner`` (default: this process) still holds."""
        prefix = (owner or self.owner) + _SEP
        members = (_s(m) for m in self.client.smembers(self._keys[5]))
        return sorted(m[len(prefix):] for m in members if m.startswith(prefix))

    def ack_eviction(self, name: str, owner: str | None = None) -> None:
        """The owner has dropped the evicted model: clear its notice."""
        self.client.srem(self._keys[5], (owner or self.owner) + _SEP + name)

    # --- use counting -----------------------------------------------------------------

    def _count(self, name: str, delta: int) -> int:
        n = int(self._use(keys=self._keys, args=[name, delta, repr(float(self.clock()))]))
        if n < 0:
            raise ModelNotLoaded(name)
        return n

    def acquire(self, name: str) -> int:
        """One more job uses ``name`` (it cannot be evicted meanwhile); returns the count."""
        return self._count(name, 1)

    def release(self, name: str) -> int:
        """A job is done with ``name``; touches its last-used time; returns the count."""
        return self._count(name, -1)

    @contextmanager
    def using(self, name: str) -> Iterator[None]:
        self.acquire(name)
        try:
            yield
        finally:
            try:
                self.release(name)
            except ModelNotLoaded:  # force-unloaded meanwhile: nothing left to count
                pass

    # --- unloading ----------------------------------------------------------------------

    def unload(self, name: str, *, owner: str | None = None, force: bool = False) -> bool:
        """Remove ``name`` from the bookkeeping; False if it was not loaded.

        ``owner`` given: only if that process holds it (else :class:`ModelOwnedElsewhere`).
        Refuses a model in use (:class:`ModelInUse`) unless ``force``.
        """
        status = int(self._unload(keys=self._keys, args=[name, owner or "", "1" if force else "0"]))
        if status == -1:
            raise ModelOwnedElsewhere(f"{name} is held by {self.owner_of(name)}, not {owner}")
        if status == -2:
            raise ModelInUse(name)
        return status == 1

    def idle_models(self, now: float | None = None) -> list[str]:
        """On-demand models nobody uses that were last used more than ``idle_unload_s`` ago."""
        now = self.clock() if now is None else now
        snap = self.snapshot(now=now)
        return [
            name
            for name, state in snap["models"].items()
            if state["residency"] == "on_demand"
            and state["in_use"] == 0
            and state["idle_s"] > self.idle_unload_s
        ]

    def unload_idle(self, *, owner: str | None = None, now: float | None = None) -> list[str]:
        """Atomically remove every idle on-demand model (only ``owner``'s if given)."""
        now = self.clock() if now is None else now
        args = [repr(float(now)), repr(self.idle_unload_s), owner or ""]
        names = [_s(n) for n in self._unload_idle(keys=self._keys, args=args)]
        if names:
            MODEL_EVICTIONS.labels(gpu=self.gpu, reason="idle").inc(len(names))
        return names

    # --- reporting ----------------------------------------------------------------------

    def used_mb(self) -> int:
        return sum(int(v) for v in self.client.hvals(self._keys[0]))

    def snapshot(self, now: float | None = None) -> BudgetSnapshot:
        """A consistent view for /health: budget, booked, free, and each model's state."""
        now = self.clock() if now is None else now
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self._keys[0])
        pipe.hgetall(self._keys[1])
        pipe.hgetall(self._keys[2])
        pipe.hgetall(self._keys[3])
        pipe.zrange(self._keys[4], 0, -1, withscores=True)
        pipe.smembers(self._keys[5])
        pipe.get(self._keys[6])
        footprint, residency, in_use, owner, last_used, evictions, peak = pipe.execute()

        def as_str(d: dict[Any, Any]) -> dict[str, str]:
            return {_s(k): _s(v) for k, v in d.items()}

        footprint, residency, in_use, owner = map(as_str, (footprint, residency, in_use, owner))
        models: dict[str, ModelState] = {}
        for raw_name, last in last_used:
            name = _s(raw_name)
            if name not in footprint:
                continue
            count = int(in_use.get(name, "0"))
            models[name] = ModelState(
                footprint_mb=int(footprint[name]),
                residency=residency.get(name, ""),
                in_use=count,
                idle_s=0.0 if count > 0 else max(0.0, now - float(last)),
                owner=owner.get(name, ""),
            )
        used = sum(int(v) for v in footprint.values())
        return BudgetSnapshot(
            gpu=self.gpu,
            budget_mb=self.budget_mb,
            used_mb=used,
            free_mb=self.budget_mb - used,
            device_free_mb=self.free_device_mb(),
            peak_mb=int(peak or 0),
            models=models,
            pending_evictions=sorted(_s(m).replace(_SEP, "/", 1) for m in evictions),
        )
