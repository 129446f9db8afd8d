"""The reply's token stream on the real Redis: every token published, in order, before close()
returns; a barge-in seen within a batch; a publishing failure raised in the generation loop."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis

from avatar.turns import TurnState
from workers.token_stream import TokenStream

REDIS_URL = f"{os.environ.get('AVATAR_TEST_REDIS', 'redis://127.0.0.1:6379')}/10"


def _published(pubsub: redis.client.PubSub, count: int, timeout_s: float = 5.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            got.append(message["data"].decode())
    return got


def test_every_token_is_published_in_order_with_the_first_tokens_mark() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    channel = f"tokens-{uuid.uuid4().hex[:8]}"
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    _published(pubsub, 0, 0.2)  # the subscription's confirmation
    state = TurnState(client, uuid.uuid4())
    stream = TokenStream(state, channel)
    stream.put("t0", first_token_ms=12.5)
    for i in range(1, 200):
        stream.put(f"t{i}")
    stream.close()
    assert _published(pubsub, 200) == [f"t{i}" for i in range(200)]
    assert state.latency() == {"first_token_ms": 12.5}
    assert not stream.interrupted


def test_a_barge_in_is_seen_by_the_next_batch() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    state = TurnState(client, uuid.uuid4())
    stream = TokenStream(state, f"tokens-{uuid.uuid4().hex[:8]}")
    stream.put("before")
    state.interrupt()
    deadline = time.monotonic() + 5
    while not stream.interrupted and time.monotonic() < deadline:
        stream.put("after")
        time.sleep(0.01)
    stream.close()
    assert stream.interrupted


def test_a_publishing_failure_reaches_the_generation_loop() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens on port 1
    stream = TokenStream(TurnState(dead, uuid.uuid4()), "nowhere")
    stream.put("lost")
    with pytest.raises(redis.ConnectionError):
        stream.close()
    quiet = TokenStream(TurnState(dead, uuid.uuid4()), "nowhere")
    quiet.put("lost")
    quiet.close(quietly=True)  # the generation's own error is the one reported
