"""Delivers a turn's audio chunks to the browser strictly in ``seq`` order.

Sentences are synthesised in parallel by several workers and finish in any order. Each
worker hands its chunk to the sequencer: under a short per-turn Redis lock (redis-py's
Lock), the chunk is emitted at once if it is the next one due, followed by any later
chunks already waiting; otherwise it waits in a Redis hash until its predecessors arrive.
A chunk leaves Redis only after it is published: a worker killed in between publishes it
again on redelivery (the browser keys chunks by ``seq``), never loses it.
A sentence that failed leaves a tombstone so the ones after it are not held back forever.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from avatar.events import AUDIO_CHUNK, ERROR, Emitter
from avatar.turns.keys import TTL_S, sequencer_prefix


# Store chunk ARGV[1] and list every chunk now due, in order, in one round trip. Nothing is
# removed yet: the chunks leave Redis only once they are published (_COMMIT), so a worker
# killed between the two publishes them again on redelivery instead of losing them.
# KEYS: meta hash, audio hash, next-due counter. ARGV: seq, meta JSON, audio ("" = none), ttl.
_STORE_AND_PEEK = """
local next_due = tonumber(redis.call('GET', KEYS[3]) or '0')
local seq = tonumber(ARGV[1])
if seq < next_due then return {} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local due = {}
while true do
  local field = tostring(next_due)
  local meta = redis.call('HGET', KEYS[1], field)
  if not meta then break end
  local audio = redis.call('HGET', KEYS[2], field)
  table.insert(due, field)
  table.insert(due, meta)
  table.insert(due, audio or '')
  next_due = next_due + 1
end
return due
"""

# The chunks ARGV[1] .. ARGV[2]-1 were published: drop them and move the counter past them.
# KEYS: meta hash, audio hash, next-due counter. ARGV: first seq, next due, ttl.
_COMMIT = """
for seq = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
  redis.call('HDEL', KEYS[1], tostring(seq))
  redis.call('HDEL', KEYS[2], tostring(seq))
end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
return 1
"""


class AudioSequencer:
    def __init__(self, client: redis.Redis, emitter: Emitter) -> None:
        self.r = client
        self.emitter = emitter
        self._store_and_peek = client.register_script(_STORE_AND_PEEK)
        self._commit = client.register_script(_COMMIT)

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
    ) -> list[int]:
        """Queue chunk ``seq`` (``audio=None`` with ``meta['error']`` is a tombstone);
        emit everything now due. Returns the seqs emitted by this call."""
        prefix = sequencer_prefix(turn_id, mode, generation)
        keys = [f"{prefix}:meta", f"{prefix}:audio", f"{prefix}:next"]
        # The lock spans popping *and* emitting, so two workers never publish out of order.
        with self.r.lock(f"{prefix}:lock", timeout=30, blocking_timeout=30):
            due = self._store_and_peek(keys=keys, args=[seq, json.dumps(meta), audio or b"", TTL_S])
            emitted: list[int] = []
            for index in range(0, len(due), 3):
                chunk_seq = int(due[index])
                chunk_audio = due[index + 2] or None
                self._emit(session_id, turn_id, mode, chunk_seq, chunk_audio, json.loads(due[index + 1]))
                emitted.append(chunk_seq)
            if emitted:  # published: only now do they leave Redis
                self._commit(keys=keys, args=[emitted[0], emitted[-1] + 1, TTL_S])
        return emitted

    def _emit(
        self,
        session_id: str | uuid.UUID,
        turn_id: str,
        mode: str,
        seq: int,
        audio: bytes | None,
        meta: dict[str, Any],
    ) -> None:
        if "error" in meta:
            self.emitter.emit(ERROR, {**meta["error"], "turn_id": turn_id, "seq": seq}, session_id)
            return
        payload = {"turn_id": turn_id, "seq": seq, "mode": mode, **meta, "audio": audio}
        self.emitter.emit(AUDIO_CHUNK, payload, session_id)
