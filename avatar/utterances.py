"""The hand-off between the API's VAD and the ``asr`` lane: an utterance's PCM waits in Redis
(short TTL) under these keys while its transcription job is queued; its partial results and
its "final" marker live beside it."""

from __future__ import annotations

import numpy as np
import redis

UTTERANCE_TTL_S = 600


def utterance_key(utterance_id: str, name: str) -> str:
    return f"avatar:utt:{utterance_id}:{name}"


def partial_inflight_key(session_id: str) -> str:
    """Set while a partial pass for this session is queued or running (at most one)."""
    return f"avatar:asr:partial-inflight:{session_id}"


def store_pcm(client: redis.Redis, ref: str, pcm: np.ndarray) -> None:
    client.set(ref, pcm.astype(np.int16).tobytes(), ex=UTTERANCE_TTL_S)


def load_pcm(client: redis.Redis, audio_ref: str) -> np.ndarray | None:
    raw = client.get(audio_ref)
    return None if raw is None else np.frombuffer(raw, dtype=np.int16)
