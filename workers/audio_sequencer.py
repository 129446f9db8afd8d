"""Delivers a turn's audio chunks to the browser strictly in ``seq`` order.

Sentences are synthesised in parallel by several workers and finish in any order. Each
worker hands its chunk to the sequencer as the Socket.IO message that carries it (built by the
emitter, :meth:`avatar.events.Emitter.packet`), and one Redis script does the rest atomically,
in a single round trip: it stores the message, then publishes every message now due, in order,
removes them and moves the turn's next-due counter past them. A chunk that is not due yet waits
in a Redis hash until its predecessors arrive. Redis runs a script whole or not at all, so no
lock is needed and a chunk can neither be published twice nor lost between its publishing and
its removal (a worker killed before the script runs publishes it again on redelivery).
A sentence that failed leaves a tombstone (its error message) so the ones after it are not held
back forever.

Why one script: on the path to first audio each Redis round trip costs a scheduling wake-up of
Redis and of the worker; on a busy machine that is milliseconds each (the peer benchmark's
per-hop profile measured ~20 ms for the former lock / store / publish / commit / unlock).
"""

from __future__ import annotations

import uuid
from typing import Any

import redis

from avatar.events import AUDIO_CHUNK, ERROR, Emitter
from avatar.turns.keys import TTL_S, sequencer_prefix

# KEYS: messages hash, next-due counter, and optionally a key whose presence refuses the chunk
# (the turn's interrupted flag). ARGV: seq, message, ttl, channel.
# Returns the seqs published by this call, in order.
_DELIVER = """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local next_due = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = tonumber(ARGV[1])
if seq < next_due then return {} end
local published = {}
if seq == next_due then
  -- due now (the usual case): published at once, never copied into the hash
  redis.call('PUBLISH', ARGV[4], ARGV[2])
  table.insert(published, next_due)
  next_due = next_due + 1
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
while true do
  local field = tostring(next_due)
  local message = redis.call('HGET', KEYS[1], field)
  if not message then break end
  redis.call('PUBLISH', ARGV[4], message)
  redis.call('HDEL', KEYS[1], field)
  table.insert(published, next_due)
  next_due = next_due + 1
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], next_due, 'EX', ARGV[3])
return published
"""


class AudioSequencer:
    def __init__(self, client: redis.Redis, emitter: Emitter) -> None:
        self.r = client
        self.emitter = emitter
        self._deliver = client.register_script(_DELIVER)

    def deliver(
        self,
        *,
        session_id: str | uuid.UUID,
        turn_id: str,
        mode: str,
        generation: int,
        seq: int,
        audio: bytes | None,
        meta: dict[str, Any],
        unless_interrupted: str | None = None,
    ) -> list[int]:
        """Queue chunk ``seq`` (``audio=None`` with ``meta['error']`` is a tombstone);
        publish everything now due. Returns the seqs published by this call.
        ``unless_interrupted``: a key (the turn's interrupted flag) whose presence refuses the
        chunk, checked inside the same script (no round trip of its own)."""
        prefix = sequencer_prefix(turn_id, mode, generation)
        if "error" in meta:
            message = self.emitter.packet(ERROR, {**meta["error"], "turn_id": turn_id, "seq": seq}, session_id)
        else:
            payload = {"turn_id": turn_id, "seq": seq, "mode": mode, **meta, "audio": audio}
            message = self.emitter.packet(AUDIO_CHUNK, payload, session_id)
        keys = [f"{prefix}:messages", f"{prefix}:next"]
        if unless_interrupted:
            keys.append(unless_interrupted)
        published = self._deliver(keys=keys, args=[seq, message, TTL_S, self.emitter.channel])
        return [int(s) for s in published]
