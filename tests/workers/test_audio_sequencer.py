"""The audio sequencer on the real Redis: chunks that finish in any order (from several
threads at once) reach the Socket.IO channel in ``seq`` order, once each; a failed sentence
leaves an error in its place. Emitted messages are read off the same Redis pub/sub channel
the API listens to (python-socketio's RedisManager message format)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import signal
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from socketio.packet import Packet

from avatar.events import Emitter
from avatar.settings import Settings
from avatar.turns.keys import sequencer_prefix
from workers.audio_sequencer import AudioSequencer

REDIS_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
def channel() -> Iterator[tuple[AudioSequencer, redis.client.PubSub]]:
    settings = Settings(redis_url=REDIS_URL, socketio_channel=f"seqtest-{uuid.uuid4().hex[:8]}")
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(settings.socketio_channel)
    yield AudioSequencer(client, Emitter(settings)), pubsub
    pubsub.close()


def _received(pubsub: redis.client.PubSub, count: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for _ in range(count * 20):
        message = pubsub.get_message(timeout=0.5)
        if message is None:
            continue
        body = json.loads(message["data"])  # python-socketio's pub/sub message
        data = body["data"]
        if body.get("binary"):
            data = Packet.reconstruct_binary(data[0], [base64.b64decode(a) for a in data[1:]])
        out.append((body["event"], data[0] if isinstance(data, list) else data))
        if len(out) == count:
            break
    return out


def test_out_of_order_chunks_from_many_threads_arrive_in_order(channel) -> None:
    sequencer, pubsub = channel
    turn, n = str(uuid.uuid4()), 12
    order = list(range(n))
    random.Random(7).shuffle(order)

    def deliver(seq: int) -> None:
        sequencer.deliver(
            session_id="s1", turn_id=turn, mode="fast", generation=1, seq=seq,
            audio=f"wav-{seq}".encode(), meta={"duration_ms": seq * 10.0},
        )

    threads = [threading.Thread(target=deliver, args=(seq,)) for seq in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = _received(pubsub, n)
    assert [data["seq"] for _, data in got] == list(range(n))
    assert all(event == "audio_chunk" and data["audio"] == f"wav-{data['seq']}".encode() for event, data in got)


def test_tombstone_releases_later_chunks_and_duplicates_are_dropped(channel) -> None:
    sequencer, pubsub = channel
    turn = str(uuid.uuid4())
    common = {"session_id": "s1", "turn_id": turn, "mode": "fast", "generation": 1}
    assert sequencer.deliver(**common, seq=2, audio=b"two", meta={}) == []
    assert sequencer.deliver(**common, seq=0, audio=b"zero", meta={}) == [0]
    error = {"code": "ENGINE_FAILED", "message": "boom", "trace_id": "t"}
    assert sequencer.deliver(**common, seq=1, audio=None, meta={"error": error}) == [1, 2]
    assert sequencer.deliver(**common, seq=0, audio=b"zero", meta={}) == [], "redelivery is dropped"
    got = _received(pubsub, 3)
    assert [event for event, _ in got] == ["audio_chunk", "error", "audio_chunk"]
    assert got[1][1]["seq"] == 1 and got[1][1]["code"] == "ENGINE_FAILED"
    # Another generation of the same turn has its own order.
    assert sequencer.deliver(**{**common, "generation": 2}, seq=0, audio=b"again", meta={}) == [0]


class _KilledWhilePublishing(Emitter):
    """The worker dies while handing its chunk to the sequencer, before the sequencer's Redis
    script ran (the faults bench's SIGKILL, landed there on purpose; once the script runs it
    runs whole, so there is no later moment to die in between)."""

    def packet(self, event: str, data: dict, session_id: str | uuid.UUID) -> str:  # type: ignore[override]
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def test_a_chunk_is_not_lost_when_its_worker_dies_before_publishing_it(channel) -> None:
    sequencer, pubsub = channel
    turn = str(uuid.uuid4())
    common = {"session_id": "s1", "turn_id": turn, "mode": "fast", "generation": 1}
    assert sequencer.deliver(**common, seq=1, audio=b"one", meta={}) == []  # waits for seq 0

    def doomed() -> None:
        dying = AudioSequencer(redis.Redis.from_url(REDIS_URL), _KilledWhilePublishing(Settings(redis_url=REDIS_URL)))
        dying.deliver(**common, seq=0, audio=b"zero", meta={})

    worker = multiprocessing.get_context("fork").Process(target=doomed)
    worker.start()
    worker.join(30)
    assert worker.exitcode == -signal.SIGKILL
    assert sequencer.r.get(f"{sequencer_prefix(turn, 'fast', 1)}:next") == b"0"  # nothing went out
    # The job is redelivered (acks_late) and runs again: both chunks go out, in order.
    assert sequencer.deliver(**common, seq=0, audio=b"zero", meta={}) == [0, 1]
    got = _received(pubsub, 2)
    assert [(event, data["seq"]) for event, data in got] == [("audio_chunk", 0), ("audio_chunk", 1)]
