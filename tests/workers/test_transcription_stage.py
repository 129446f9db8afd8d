"""The final-transcript stage in-process on a real SQLite database, real Redis (the broker and
the Socket.IO channel) and the real barge-in: an utterance the stage rejects after its
barge-in stopped the previous turn unheard puts that turn's message back on the ``llm`` lane,
so the user's question is still answered. Nothing here runs a model: the rejection used is
``expired`` (the utterance's audio is gone from Redis), which the stage decides before the
ASR engine is asked."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from sqlalchemy import select

from avatar.conversation import create_session
from avatar.db import ConversationTurn, session_scope
from avatar.jobs import TranscriptionJob
from avatar.services import Services
from avatar.settings import Settings
from avatar.turns import Playback, SpokenAt, interrupt_active_turn, start_turn
from workers.context import StageContext
from workers.transcription import run_final


@pytest.fixture
def services(stage_settings: Settings) -> Services:
    return Services.build(stage_settings)


def _events(pubsub: redis.client.PubSub, timeout_s: float = 5.0) -> list[dict]:
    """The Socket.IO events published on the channel so far (python-socketio's JSON messages:
    ``{method, event, data: [payload], room, ...}``)."""
    got, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is None and got:
            break
        if message and message["type"] == "message":
            got.append(json.loads(message["data"]))
    return got


def _llm_queue_keys(services: Services) -> list[bytes]:
    # Celery's Redis transport keeps a list per queue and priority step: llm, llm:1 ... llm:9.
    return [b"llm", *services.redis.scan_iter("llm:*")]


def _queued_replies(services: Services) -> list[str]:
    """The ``llm`` lane's messages waiting in the broker, as text."""
    return [m.decode() for key in _llm_queue_keys(services) for m in services.redis.lrange(key, 0, -1)]


def test_a_rejected_utterance_that_stopped_a_turn_unheard_brings_the_turn_back(services: Services) -> None:
    with services.db() as db:
        session_id = create_session(db).session_id
    services.redis.delete(*_llm_queue_keys(services))
    t0 = time.time()
    first = start_turn(services, session_id, "今天天氣怎麼樣？", accepted_at=t0 + 2.0, spoken=SpokenAt(t0, t0 + 2.0))
    # The next utterance's barge-in, with nothing of the reply played yet.
    assert interrupt_active_turn(services, str(session_id), Playback()) is not None
    pubsub = services.redis.pubsub()
    pubsub.subscribe(services.emitter.channel)
    pubsub.get_message(timeout=1.0)  # the subscription's confirmation

    job = TranscriptionJob(session_id=str(session_id), utterance_id=uuid.uuid4().hex,
                           audio_ref=f"gone-{uuid.uuid4().hex}", speech_started_at=t0 + 2.6,
                           speech_ended_at=t0 + 3.0)
    result = run_final(StageContext(services), job)

    assert result["rejected"] == "expired" and result["resumed_turn_id"]
    with session_scope(services.settings.resolved_database_url) as db:
        turns = db.scalars(select(ConversationTurn).where(ConversationTurn.session_id == session_id)
                           .order_by(ConversationTurn.turn_number)).all()
        rows = [(str(t.turn_id), t.user_input, t.status, (t.latency or {}).get("continued_by")) for t in turns]
    assert rows == [
        (str(first.turn_id), "今天天氣怎麼樣？", "interrupted", result["resumed_turn_id"]),
        (result["resumed_turn_id"], "今天天氣怎麼樣？", "pending", None),
    ]
    assert sum(result["resumed_turn_id"] in m for m in _queued_replies(services)) == 1
    [rejected] = [e["data"][0] for e in _events(pubsub) if e.get("event") == "transcription_rejected"]
    assert rejected["reason"] == "expired"
    assert rejected["resumed_turn_id"] == result["resumed_turn_id"]
    assert rejected["continues_turn_id"] == str(first.turn_id)
    assert rejected["turn_text"] == "今天天氣怎麼樣？"


def test_a_rejected_utterance_with_nothing_stopped_starts_nothing(services: Services) -> None:
    with services.db() as db:
        session_id = create_session(db).session_id
    t0 = time.time()
    start_turn(services, session_id, "你好", accepted_at=t0 + 1.0, spoken=SpokenAt(t0, t0 + 1.0))
    job = TranscriptionJob(session_id=str(session_id), utterance_id=uuid.uuid4().hex,
                           audio_ref=f"gone-{uuid.uuid4().hex}", speech_started_at=t0 + 1.5,
                           speech_ended_at=t0 + 1.8)
    assert run_final(StageContext(services), job) == {"rejected": "expired", "resumed_turn_id": None}
    with session_scope(services.settings.resolved_database_url) as db:
        statuses = db.scalars(select(ConversationTurn.status).where(ConversationTurn.session_id == session_id)).all()
    assert statuses == ["pending"]  # the open turn goes on being answered; nothing was added
