"""Starting turns concurrently on a real database (SQLite migrated to head, and PostgreSQL
when it is reachable): however many messages of one session arrive at once, exactly one
turn is stored and every other caller is told ``TURN_IN_PROGRESS``; nothing raises."""

from __future__ import annotations

import threading
import uuid

import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DBSession

from avatar.conversation import ConversationError, create_session
from avatar.db import ConversationTurn
from avatar.settings import Settings
from avatar.turns import TurnState, accept_user_message
from avatar.turns.state import Settled

CALLERS = 8
ROUNDS = 5


def _race(engine: Engine, session_id: uuid.UUID) -> list[object]:
    """CALLERS threads accept a message for ``session_id`` at the same instant; each returns
    its AcceptedTurn, the ConversationError code, or whatever else it raised."""
    start = threading.Barrier(CALLERS)
    outcomes: list[object] = [None] * CALLERS

    def caller(i: int) -> None:
        start.wait()
        try:
            with DBSession(engine, expire_on_commit=False) as db, db.begin():
                outcomes[i] = accept_user_message(db, session_id, f"第 {i} 則", Settings())
        except ConversationError as exc:
            outcomes[i] = exc.code
        except Exception as exc:  # the defect: an IntegrityError nobody answers
            outcomes[i] = exc

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_simultaneous_messages_store_one_turn_and_refuse_the_rest(migrated_engine: Engine) -> None:
    engine = migrated_engine
    for _ in range(ROUNDS):
        with DBSession(engine) as db, db.begin():
            session_id = create_session(db).session_id

        outcomes = _race(engine, session_id)

        unexpected = [o for o in outcomes if isinstance(o, Exception)]
        assert not unexpected, f"a concurrent start raised instead of answering: {unexpected!r}"
        accepted = [o for o in outcomes if not isinstance(o, str)]
        assert len(accepted) == 1, outcomes
        assert sorted(o for o in outcomes if isinstance(o, str)) == ["TURN_IN_PROGRESS"] * (CALLERS - 1)
        with DBSession(engine) as db:
            numbers = db.scalars(select(ConversationTurn.turn_number).where(
                ConversationTurn.session_id == session_id)).all()
        assert numbers == [1]


SETTLE_REDIS_URL = "redis://127.0.0.1:6379/10"  # the local Redis the tests use (README, Testing)


def test_a_sentence_settled_twice_counts_once() -> None:
    """A redelivered speech job (its worker died after settling, before the broker heard)
    settles its sentence again: the turn must not complete before its last sentence."""
    client = redis.Redis.from_url(SETTLE_REDIS_URL)
    state = TurnState(client, uuid.uuid4())
    state.start_generation()
    state.set_expected(3)
    state.settle(0)
    state.settle(1, failed=True)
    state.settle(0)  # the redelivery
    state.settle(1, failed=True)
    assert (state.settled_count(), state.failed_count()) == (2, 1)
    assert not state.audio_settled() and not state.claim_completion()
    assert state.settle(2) is Settled.CLAIMED  # the last sentence claims the completion, once
    assert state.audio_settled() and not state.claim_completion()


def test_a_sentence_of_a_restarted_reply_settles_nothing() -> None:
    """A speech job of an earlier generation (the reply restarted meanwhile) records nothing,
    and an interrupted turn's last sentence does not claim the completion (the barge-in
    closed the turn)."""
    client = redis.Redis.from_url(SETTLE_REDIS_URL)
    state = TurnState(client, uuid.uuid4())
    state.start_generation()
    generation = state.start_generation()
    state.set_expected(2)
    assert state.settle(0, generation=generation - 1) is Settled.STALE
    assert state.settled_count() == 0
    assert state.settle(0, generation=generation) is Settled.RECORDED
    state.interrupt()
    assert state.settle(1, generation=generation) is Settled.RECORDED
    assert state.audio_settled() and not state.claim_completion()
