"""Starting turns concurrently on a real database (SQLite migrated to head, and PostgreSQL
when it is reachable): however many messages of one session arrive at once, exactly one
turn is stored and every other caller is told ``TURN_IN_PROGRESS``; nothing raises."""

from __future__ import annotations

import threading
import time
import uuid

import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DBSession

from avatar.conversation import ConversationError, create_session
from avatar.db import ConversationTurn
from avatar.settings import Settings
from avatar.turns import AcceptedTurn, SpokenAt, TurnState, accept_user_message
from avatar.turns.start import first_audio_at, resume_stopped_turn
from avatar.turns.state import Settled
from tests.conftest import REDIS_BASE

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


# --- an utterance that goes on after a pause ----------------------------------------------------
CONTINUE_REDIS_URL = f"{REDIS_BASE}/10"


def _spoken_turn(engine: Engine, session_id: uuid.UUID, text: str, spoken: SpokenAt,
                 client: redis.Redis) -> object:
    try:
        with DBSession(engine, expire_on_commit=False) as db, db.begin():
            return accept_user_message(db, session_id, text, Settings(), accepted_at=spoken.ended,
                                       spoken=spoken, first_audio_at=first_audio_at(client))
    except ConversationError as exc:
        return exc.code


def _turns(engine: Engine, session_id: uuid.UUID) -> list[ConversationTurn]:
    with DBSession(engine, expire_on_commit=False) as db:
        return list(db.scalars(select(ConversationTurn).where(ConversationTurn.session_id == session_id)
                               .order_by(ConversationTurn.turn_number)))


def _new_session(engine: Engine) -> uuid.UUID:
    with DBSession(engine) as db, db.begin():
        return create_session(db).session_id


def _store_barge_in(engine: Engine, turn_id: uuid.UUID, heard: str = "") -> None:
    with DBSession(engine) as db, db.begin():  # what barge-in stores (nothing heard: "")
        db.get(ConversationTurn, turn_id).status = "interrupted"
        db.get(ConversationTurn, turn_id).ai_response = heard


def test_an_utterance_begun_before_the_reply_was_heard_continues_the_turn(migrated_engine: Engine) -> None:
    """對 (pause) 今天天氣怎麼樣: the second utterance began before the first's reply had any
    audio, so one turn holds both and the first is stopped unheard, instead of the second being
    refused TURN_IN_PROGRESS and lost."""
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    session_id = _new_session(migrated_engine)
    t0 = time.time()
    first = _spoken_turn(migrated_engine, session_id, "對", SpokenAt(t0, t0 + 0.4), client)
    assert isinstance(first, AcceptedTurn) and first.continues is None
    second = _spoken_turn(migrated_engine, session_id, "今天天氣怎麼樣？", SpokenAt(t0 + 0.9, t0 + 3.0), client)

    assert isinstance(second, AcceptedTurn), second
    assert second.continues == first.turn_id
    assert second.text == "對，今天天氣怎麼樣？"
    old, new = _turns(migrated_engine, session_id)
    assert (old.status, old.ai_response, old.latency["continued_by"]) == ("interrupted", "", str(new.turn_id))
    assert (new.status, new.user_input, new.turn_number) == ("pending", "對，今天天氣怎麼樣？", 2)
    assert (new.latency["speech_started_at"], new.latency["speech_ended_at"]) == (t0, t0 + 3.0)


def test_an_utterance_transcribed_first_is_put_after_the_earlier_one(migrated_engine: Engine) -> None:
    """Two asr processes: the later utterance's transcript can win the race; the turn still
    reads in the order the user spoke."""
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    session_id = _new_session(migrated_engine)
    t0 = time.time()
    later = _spoken_turn(migrated_engine, session_id, "今天天氣怎麼樣", SpokenAt(t0 + 0.9, t0 + 3.0), client)
    earlier = _spoken_turn(migrated_engine, session_id, "對。", SpokenAt(t0, t0 + 0.4), client)
    assert isinstance(later, AcceptedTurn) and isinstance(earlier, AcceptedTurn)
    assert earlier.continues == later.turn_id and earlier.text == "對。今天天氣怎麼樣"


def test_an_utterance_after_the_reply_was_heard_is_still_refused(migrated_engine: Engine) -> None:
    """Speech begun after the reply's first audio went out is a new message (barge-in stops
    that reply before its transcript arrives); while the reply is still written, it is refused.
    A typed message is never continued by speech."""
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    session_id = _new_session(migrated_engine)
    t0 = time.time() - 10
    first = _spoken_turn(migrated_engine, session_id, "對", SpokenAt(t0, t0 + 0.4), client)
    assert isinstance(first, AcceptedTurn)
    TurnState(client, first.turn_id).mark("first_audio_ms", t0 + 0.4)  # audio out ~10 s after it ended
    assert _spoken_turn(migrated_engine, session_id, "然後呢", SpokenAt(t0 + 10.5, t0 + 11.0),
                        client) == "TURN_IN_PROGRESS"

    typed_session = _new_session(migrated_engine)
    with DBSession(migrated_engine, expire_on_commit=False) as db, db.begin():
        accept_user_message(db, typed_session, "打字的訊息", Settings())
    assert _spoken_turn(migrated_engine, typed_session, "說的話", SpokenAt(time.time(), time.time() + 1),
                        client) == "TURN_IN_PROGRESS"
    assert [t.status for t in _turns(migrated_engine, typed_session)] == ["pending"]


def test_a_turn_barge_in_stopped_unheard_is_continued_and_a_long_pause_is_not(migrated_engine: Engine) -> None:
    """With a fast ASR the first utterance's turn exists when the second one starts, and the
    second one's barge-in stops it before anything was heard: its text must still reach the
    next turn. After a pause longer than turn_continuation_s it is a new message."""
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    session_id = _new_session(migrated_engine)
    t0 = time.time()
    first = _spoken_turn(migrated_engine, session_id, "對", SpokenAt(t0, t0 + 0.4), client)
    assert isinstance(first, AcceptedTurn)
    _store_barge_in(migrated_engine, first.turn_id)
    second = _spoken_turn(migrated_engine, session_id, "今天呢", SpokenAt(t0 + 1.0, t0 + 2.0), client)
    assert isinstance(second, AcceptedTurn) and second.continues == first.turn_id
    assert second.text == "對，今天呢"

    t1 = t0 + 2.0 + Settings().turn_continuation_s + 0.5
    _store_barge_in(migrated_engine, second.turn_id)
    third = _spoken_turn(migrated_engine, session_id, "算了", SpokenAt(t1, t1 + 0.5), client)
    assert isinstance(third, AcceptedTurn) and third.continues is None and third.text == "算了"
    assert [t.user_input for t in _turns(migrated_engine, session_id)] == ["對", "對，今天呢", "算了"]


def _resumed(engine: Engine, session_id: uuid.UUID, spoken: SpokenAt, client: redis.Redis) -> AcceptedTurn | None:
    with DBSession(engine, expire_on_commit=False) as db, db.begin():
        return resume_stopped_turn(db, session_id, spoken, Settings(), accepted_at=spoken.ended,
                                   first_audio_at=first_audio_at(client))


def test_a_turn_stopped_by_an_utterance_without_words_is_asked_again(migrated_engine: Engine) -> None:
    """今天天氣怎麼樣, then a cough: the cough's barge-in stopped the reply before anything
    was heard, and the asr lane rejects the cough. The question is stored again, alone, as a
    new turn that continues the stopped one, so it still gets its answer; once only."""
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    session_id = _new_session(migrated_engine)
    t0 = time.time()
    first = _spoken_turn(migrated_engine, session_id, "今天天氣怎麼樣？", SpokenAt(t0, t0 + 2.0), client)
    assert isinstance(first, AcceptedTurn)
    _store_barge_in(migrated_engine, first.turn_id)

    resumed = _resumed(migrated_engine, session_id, SpokenAt(t0 + 2.6, t0 + 3.0), client)

    assert resumed is not None and resumed.continues == first.turn_id
    assert (resumed.text, resumed.turn_number, resumed.accepted_at) == ("今天天氣怎麼樣？", 2, t0 + 3.0)
    old, new = _turns(migrated_engine, session_id)
    assert (old.status, old.latency["continued_by"]) == ("interrupted", str(new.turn_id))
    assert (new.status, new.user_input) == ("pending", "今天天氣怎麼樣？")
    # The message's own span, not the cough's: its latencies count from when it was said.
    assert (new.latency["speech_started_at"], new.latency["speech_ended_at"]) == (t0, t0 + 2.0)
    # A second rejected utterance finds the resumed turn open: nothing more is stored.
    assert _resumed(migrated_engine, session_id, SpokenAt(t0 + 3.5, t0 + 3.8), client) is None
    assert len(_turns(migrated_engine, session_id)) == 2


def test_nothing_is_resumed_that_was_heard_open_typed_or_long_ago(migrated_engine: Engine) -> None:
    client = redis.Redis.from_url(CONTINUE_REDIS_URL)
    t0 = time.time() - 30

    open_session = _new_session(migrated_engine)  # still being answered: the reply goes on by itself
    _spoken_turn(migrated_engine, open_session, "你好", SpokenAt(t0, t0 + 1.0), client)
    assert _resumed(migrated_engine, open_session, SpokenAt(t0 + 1.5, t0 + 1.8), client) is None

    heard_session = _new_session(migrated_engine)  # some of the reply was heard before the barge-in
    heard = _spoken_turn(migrated_engine, heard_session, "你好", SpokenAt(t0, t0 + 1.0), client)
    assert isinstance(heard, AcceptedTurn)
    _store_barge_in(migrated_engine, heard.turn_id, heard="你好，我")
    assert _resumed(migrated_engine, heard_session, SpokenAt(t0 + 1.5, t0 + 1.8), client) is None

    late_session = _new_session(migrated_engine)  # the noise came after a pause longer than turn_continuation_s
    late = _spoken_turn(migrated_engine, late_session, "你好", SpokenAt(t0, t0 + 1.0), client)
    assert isinstance(late, AcceptedTurn)
    _store_barge_in(migrated_engine, late.turn_id)
    later = t0 + 1.0 + Settings().turn_continuation_s + 0.5
    assert _resumed(migrated_engine, late_session, SpokenAt(later, later + 0.3), client) is None

    typed_session = _new_session(migrated_engine)  # a typed message stopped by speech is not the speech's message
    with DBSession(migrated_engine, expire_on_commit=False) as db, db.begin():
        typed = accept_user_message(db, typed_session, "打字的訊息", Settings())
    _store_barge_in(migrated_engine, typed.turn_id)
    assert _resumed(migrated_engine, typed_session, SpokenAt(time.time(), time.time() + 0.3), client) is None

    for sid in (open_session, heard_session, late_session, typed_session):
        assert len(_turns(migrated_engine, sid)) == 1
