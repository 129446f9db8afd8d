"""Delivers a turn's audio chunks to the browser strictly in ``seq`` order.

Sentences are synthesised in parallel by several workers and finish in any order. Each
worker hands its chunk to the sequencer: under a short per-turn Redis lock (redis-py's
Lock), the chunk is emitted at once if it is the next one due, followed by any later
chunks already waiting; otherwise it waits in a Redis hash until its predecessors arrive.
A sentence that failed leaves a tombstone so the ones after it are not held back forever.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from avatar.events import AUDIO_CHUNK, ERROR, Emitter
from avatar.turns.keys import TTL_S, sequencer_prefix


# Store chunk ARGV[1] and pop every chunk now due, in order, in one round trip.
# KEYS: meta hash, audio hash, next-due counter. ARGV: seq, meta JSON, audio ("" = none), ttl.
_STORE_AND_POP = """
local next_due = tonumber(redis.call('GET', KEYS[3]) or '0')
local seq = tonumber(ARGV[1])
if seq < next_due then return {} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
local due = {}
while true do
  local field = tostring(next_due)
  local meta = redis.call('HGET', KEYS[1], field)
  if not meta then break end
  local audio = redis.call('HGET', KEYS[2], field)
  table.insert(due, field)
  table.insert(due, meta)
  table.insert(due, audio or '')
  redis.call('HDEL', KEYS[1], field)
  redis.call('HDEL', KEYS[2], field)
  next_due = next_due + 1
end
redis.call('SET', KEYS[3], next_due, 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return due
"""


class AudioSequencer:
    def __init__(self, client: redis.Redis, emitter: Emitter) -> None:
        self.r = client
        self.emitter = emitter
        self._store_and_pop = client.register_script(_STORE_AND_POP)

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
            due = self._store_and_pop(keys=keys, args=[seq, json.dumps(meta), audio or b"", TTL_S])
            emitted: list[int] = []
            for index in range(0, len(due), 3):
                chunk_seq = int(due[index])
                chunk_audio = due[index + 2] or None
                self._emit(session_id, turn_id, mode, chunk_seq, chunk_audio, json.loads(due[index + 1]))
                emitted.append(chunk_seq)
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
