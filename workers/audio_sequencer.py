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
from workers.turn_state import TTL_S


class AudioSequencer:
    def __init__(self, client: redis.Redis, emitter: Emitter) -> None:
        self.r = client
        self.emitter = emitter

    def _prefix(self, turn_id: str, mode: str, generation: int) -> str:
        return f"avatar:turn:{turn_id}:seq:{mode}:g{generation}"

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
        prefix = self._prefix(turn_id, mode, generation)
        emitted: list[int] = []
        with self.r.lock(f"{prefix}:lock", timeout=30, blocking_timeout=30):
            next_due = int(self.r.get(f"{prefix}:next") or 0)
            if seq < next_due:
                return emitted  # a redelivered duplicate: already spoken
            pipe = self.r.pipeline()
            pipe.hset(f"{prefix}:meta", str(seq), json.dumps(meta))
            if audio is not None:
                pipe.hset(f"{prefix}:audio", str(seq), audio)
            pipe.expire(f"{prefix}:meta", TTL_S)
            pipe.expire(f"{prefix}:audio", TTL_S)
            pipe.execute()
            while True:
                raw_meta = self.r.hget(f"{prefix}:meta", str(next_due))
                if raw_meta is None:
                    break
                chunk_meta = json.loads(raw_meta)
                chunk_audio = self.r.hget(f"{prefix}:audio", str(next_due))
                self._emit(session_id, turn_id, mode, next_due, chunk_audio, chunk_meta)
                self.r.hdel(f"{prefix}:meta", str(next_due))
                self.r.hdel(f"{prefix}:audio", str(next_due))
                emitted.append(next_due)
                next_due += 1
            self.r.set(f"{prefix}:next", next_due, ex=TTL_S)
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
