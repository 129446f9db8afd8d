"""A turn's live state in Redis, shared by the reply stage, the speech stages and barge-in.

- ``generation``: bumped each time the reply job (re)starts; speech jobs of an older
  generation are stale (their worker died, the reply is being regenerated) and are dropped.
- ``latency``: first_token_ms, first_audio_ms, ... measured from the moment the API accepted
  the message; written to the turn row once, when the turn completes.
- ``path``: unix times of the hops the first sentence passed (API, queue, workers), written with
  the latency marks at no extra round trip; read by the benchmark's per-hop profile.
- ``expected`` / ``settled``: how many sentences the reply has and how many have been spoken
  (or failed); the turn is complete when both agree. Completion is claimed with SET NX so
  exactly one process writes it.
"""

from __future__ import annotations

import enum
import time
import uuid

import redis

from avatar.turns.keys import TTL_S, turn_key, turn_prefix


class Settled(enum.IntEnum):
    """What :meth:`TurnState.settle` did."""

    STALE = -1  # the reply was restarted meanwhile: nothing recorded
    RECORDED = 0  # recorded; the turn is not complete (or another process claimed it)
    CLAIMED = 1  # recorded, and this caller completes the turn


# KEYS: generation, settled, failed, interrupted, expected, done.
# ARGV: generation (-1: any), seq (-1: settle nothing, only try to claim), failed (0/1), ttl.
_SETTLE = """
if tonumber(ARGV[1]) >= 0 and tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then
  return -1
end
if tonumber(ARGV[2]) >= 0 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  if ARGV[3] == '1' then
    redis.call('SADD', KEYS[3], ARGV[2])
    redis.call('EXPIRE', KEYS[3], ARGV[4])
  else
    redis.call('SREM', KEYS[3], ARGV[2])
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local expected = redis.call('GET', KEYS[5])
if not expected or redis.call('SCARD', KEYS[2]) < tonumber(expected) then return 0 end
if redis.call('SET', KEYS[6], 1, 'NX', 'EX', ARGV[4]) then return 1 end
return 0
"""


class TurnState:
    def __init__(self, client: redis.Redis, turn_id: str | uuid.UUID) -> None:
        self.r = client
        self.turn_id = str(turn_id)
        self.prefix = turn_prefix(self.turn_id)
        self._settle = client.register_script(_SETTLE)

    def key(self, name: str) -> str:
        return turn_key(self.turn_id, name)

    # --- generations ---------------------------------------------------------------------
    def start_generation(self) -> int:
        pipe = self.r.pipeline()  # one transaction, one round trip
        pipe.incr(self.key("generation"))
        pipe.expire(self.key("generation"), TTL_S)
        # A restarted reply starts its own count of sentences.
        pipe.delete(self.key("expected"), self.key("settled"), self.key("failed"), self.key("done"))
        return int(pipe.execute()[0])

    def generation(self) -> int:
        return int(self.r.get(self.key("generation")) or 0)

    def standing(self) -> tuple[int, bool]:
        """(generation, interrupted) in one round trip: what a speech job checks before and
        after its work (each round trip on a busy machine is a wake-up of Redis and of us)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.get(self.key("generation"))
        pipe.exists(self.key("interrupted"))
        generation, interrupted = pipe.execute()
        return int(generation or 0), bool(interrupted)

    # --- barge-in ----------------------------------------------------------------------------
    def interrupt(self) -> bool:
        """Mark the turn interrupted (the user spoke over it); True the first time only."""
        return bool(self.r.set(self.key("interrupted"), 1, nx=True, ex=TTL_S))

    def interrupted(self) -> bool:
        return bool(self.r.exists(self.key("interrupted")))

    def add_task(self, task_id: str) -> None:
        """Remember a queued speech job, so a barge-in can revoke what has not started."""
        pipe = self.r.pipeline()
        pipe.sadd(self.key("tasks"), task_id)
        pipe.expire(self.key("tasks"), TTL_S)
        pipe.execute()

    def task_ids(self) -> list[str]:
        return [t.decode() for t in self.r.smembers(self.key("tasks"))]

    # --- latency ---------------------------------------------------------------------------
    def mark(self, name: str, accepted_at: float, *, only_first: bool = True,
             path: dict[str, float] | None = None) -> None:
        """Record ms since acceptance under ``name`` (the first time only, by default), and
        ``path``'s unix times of hops (see :meth:`path`), in one round trip."""
        value = round((time.time() - accepted_at) * 1000.0, 1)
        pipe = self.r.pipeline(transaction=False)
        if only_first:
            pipe.hsetnx(self.key("latency"), name, value)
        else:
            pipe.hset(self.key("latency"), name, value)
        pipe.expire(self.key("latency"), TTL_S)
        if path:
            pipe.hset(self.key("path"), mapping=path)
            pipe.expire(self.key("path"), TTL_S)
        pipe.execute()

    def publish(self, channel: str, messages: list[tuple[str, float | None]]) -> bool:
        """Publish event messages (built by :meth:`avatar.events.Emitter.packet`), in order, and
        tell whether the turn is interrupted now, in one round trip: the reply stage's tokens
        (:mod:`workers.token_stream`). Each comes with the first token's latency mark, or None."""
        pipe = self.r.pipeline(transaction=False)
        for message, first_token_ms in messages:
            if first_token_ms is not None:
                pipe.hsetnx(self.key("latency"), "first_token_ms", first_token_ms)
                pipe.expire(self.key("latency"), TTL_S)
            pipe.publish(channel, message)
        pipe.exists(self.key("interrupted"))
        return bool(pipe.execute()[-1])

    def record_path(self, path: dict[str, float]) -> None:
        """Unix times of hops off the path to first audio (e.g. the sentence's row stored)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self.key("path"), mapping=path)
        pipe.expire(self.key("path"), TTL_S)
        pipe.execute()

    def path(self) -> dict[str, float]:
        """Unix times at which the turn passed each hop of its path to first audio, as the
        stages recorded them (one machine's clock): ``received``, ``admitted``, ``accepted``,
        ``committed``, ``reply_started``, ... (``bench.peer`` turns them into a profile)."""
        return {k.decode(): float(v) for k, v in self.r.hgetall(self.key("path")).items()}

    def latency(self) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.r.hgetall(self.key("latency")).items()}

    # --- completion --------------------------------------------------------------------------
    def set_expected(self, count: int) -> None:
        self.r.set(self.key("expected"), count, ex=TTL_S)

    def settle(self, seq: int, *, failed: bool = False, generation: int | None = None) -> Settled:
        """Sentence ``seq`` is spoken (or given up on), and, if that was the last one, the
        turn's completion claimed, atomically in one round trip (:data:`_SETTLE`). Sets, not
        counters: a redelivered job that settles the same sentence again (its worker died
        after settling, before the broker heard) must not count twice and complete the turn
        before its last sentence. ``generation``: settle only if the reply is still in it."""
        result = self._settle(
            keys=[self.key(k) for k in ("generation", "settled", "failed", "interrupted", "expected", "done")],
            args=[-1 if generation is None else generation, seq, int(failed), TTL_S])
        return Settled(int(result))

    def expected(self) -> int:
        return int(self.r.get(self.key("expected")) or 0)

    def failed_count(self) -> int:
        return int(self.r.scard(self.key("failed")))

    def settled_count(self) -> int:
        return int(self.r.scard(self.key("settled")))

    def audio_settled(self) -> bool:
        """Every sentence of the reply spoken (or failed): its number is known and reached."""
        expected = self.r.get(self.key("expected"))
        return expected is not None and self.settled_count() >= int(expected)

    def claim_completion(self) -> bool:
        """True once, for the process that sees every sentence settled (and the turn not
        interrupted: a barge-in closes it instead), in one round trip."""
        return self.settle(-1) is Settled.CLAIMED

    def closing_figures(self) -> tuple[dict[str, float], int, int]:
        """(latency marks, sentences failed, sentences expected), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.key("latency"))
        pipe.scard(self.key("failed"))
        pipe.get(self.key("expected"))
        latency, failed, expected = pipe.execute()
        return {k.decode(): float(v) for k, v in latency.items()}, int(failed), int(expected or 0)
