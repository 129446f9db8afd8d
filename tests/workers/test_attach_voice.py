"""A stored sentence and a voice deleted at the same moment, on a real database (SQLite
migrated to head, and PostgreSQL when it is reachable): whichever commits first, the
sentence's row is stored and ends with ``voice_profile_id`` NULL, never a foreign-key error.

On PostgreSQL the test waits until the second transaction is really blocked on the first's
lock (``pg_stat_activity``) before committing the first; SQLite has one writer, so the
second waits on its busy timeout whichever way the threads are scheduled."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session as DBSession

from avatar.db import ConversationTurn, Session, SynthesizedAudio, VoiceProfile
from tests.system import wait_until
from workers.speech_service import attach_voice


def _turn_and_voice(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    with DBSession(engine) as db, db.begin():
        session = Session(status="active", meta={})
        voice = VoiceProfile(name="聲音", audio_url="voice_profiles/x/ref.wav", duration_sec=8.0, meta={})
        db.add_all([session, voice])
        db.flush()
        turn = ConversationTurn(session_id=session.session_id, turn_number=1, user_input="你好", latency={})
        db.add(turn)
        db.flush()
        return turn.turn_id, voice.profile_id


def _sentence(turn_id: uuid.UUID, seq: int) -> SynthesizedAudio:
    return SynthesizedAudio(turn_id=turn_id, mode="fast", seq=seq, text="你好。", engine="lite",
                            audio_url=f"synthesized/fast/{turn_id}_{seq}.wav", duration_sec=1.0,
                            synthesis_time_ms=10.0)


def _stored_voice(engine: Engine, turn_id: uuid.UUID, seq: int) -> uuid.UUID | None:
    with DBSession(engine) as db:
        row = db.scalars(select(SynthesizedAudio).where(
            SynthesizedAudio.turn_id == turn_id, SynthesizedAudio.seq == seq)).one()
        return row.voice_profile_id


def _waiting_on_a_lock(engine: Engine) -> Callable[[], bool]:
    """True once another connection waits on a row lock (PostgreSQL); SQLite: at once."""
    if engine.dialect.name != "postgresql":
        return lambda: True

    def blocked() -> bool:
        with engine.connect() as conn:
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")))

    return blocked


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def test_a_voice_already_deleted_is_not_recorded(migrated_engine: Engine) -> None:
    engine = migrated_engine
    turn_id, voice_id = _turn_and_voice(engine)
    with DBSession(engine) as db, db.begin():
        db.delete(db.get(VoiceProfile, voice_id))
    with DBSession(engine) as db, db.begin():
        row = _sentence(turn_id, 0)
        db.add(row)
        attach_voice(db, row, voice_id)
    assert _stored_voice(engine, turn_id, 0) is None


def test_a_voice_still_there_is_recorded(migrated_engine: Engine) -> None:
    engine = migrated_engine
    turn_id, voice_id = _turn_and_voice(engine)
    with DBSession(engine) as db, db.begin():
        row = _sentence(turn_id, 0)
        db.add(row)
        attach_voice(db, row, voice_id)
    assert _stored_voice(engine, turn_id, 0) == voice_id


def test_a_sentence_stored_while_its_voice_is_being_deleted(migrated_engine: Engine) -> None:
    engine = migrated_engine
    turn_id, voice_id = _turn_and_voice(engine)
    with DBSession(engine) as deleting:
        deleting.begin()
        deleting.delete(deleting.get(VoiceProfile, voice_id))
        deleting.flush()  # deleted, not committed: the profile's row is locked

        def store() -> None:
            with DBSession(engine) as db, db.begin():
                row = _sentence(turn_id, 0)
                db.add(row)
                attach_voice(db, row, voice_id)

        thread, failures = _in_thread(store)
        wait_until(_waiting_on_a_lock(engine), 30, "the sentence to wait for the deletion")
        deleting.commit()
    thread.join(60)
    assert not failures, failures
    assert _stored_voice(engine, turn_id, 0) is None


def test_a_voice_deleted_while_a_sentence_holds_it(migrated_engine: Engine) -> None:
    engine = migrated_engine
    turn_id, voice_id = _turn_and_voice(engine)
    with DBSession(engine) as storing:
        storing.begin()
        row = _sentence(turn_id, 0)
        storing.add(row)
        attach_voice(storing, row, voice_id)
        storing.flush()  # recorded, not committed: the profile cannot go until this commits

        def delete() -> None:
            with DBSession(engine) as db, db.begin():
                db.delete(db.get(VoiceProfile, voice_id))

        thread, failures = _in_thread(delete)
        wait_until(_waiting_on_a_lock(engine), 30, "the deletion to wait for the sentence")
        storing.commit()
    thread.join(60)
    assert not failures, failures
    assert _stored_voice(engine, turn_id, 0) is None  # ON DELETE SET NULL, after the commit
