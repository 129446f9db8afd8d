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

import time
import uuid

import redis

from avatar.turns.keys import TTL_S, turn_key, turn_prefix


class TurnState:
    def __init__(self, client: redis.Redis, turn_id: str | uuid.UUID) -> None:
        self.r = client
        self.turn_id = str(turn_id)
        self.prefix = turn_prefix(self.turn_id)

    def key(self, name: str) -> str:
        return turn_key(self.turn_id, name)

    # --- generations ---------------------------------------------------------------------
    def start_generation(self) -> int:
        pipe = self.r.pipeline()
        pipe.incr(self.key("generation"))
        pipe.expire(self.key("generation"), TTL_S)
        generation = int(pipe.execute()[0])
        # A restarted reply starts its own count of sentences.
        self.r.delete(self.key("expected"), self.key("settled"), self.key("failed"), self.key("done"))
        return generation

    def generation(self) -> int:
        return int(self.r.get(self.key("generation")) or 0)

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

    def settle(self, seq: int, *, failed: bool = False) -> None:
        """Sentence ``seq`` is spoken (or given up on). Sets, not counters: a redelivered job
        that settles the same sentence again (its worker died after settling, before the
        broker heard) must not count twice and complete the turn before its last sentence."""
        pipe = self.r.pipeline()
        pipe.sadd(self.key("settled"), seq)
        pipe.expire(self.key("settled"), TTL_S)
        if failed:
            pipe.sadd(self.key("failed"), seq)
            pipe.expire(self.key("failed"), TTL_S)
        else:  # spoken after all (a redelivery that succeeded)
            pipe.srem(self.key("failed"), seq)
        pipe.execute()

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
        """True once, for the process that sees every sentence settled."""
        if not self.audio_settled():
            return False
        return bool(self.r.set(self.key("done"), 1, nx=True, ex=TTL_S))
