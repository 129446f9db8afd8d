"""Conversation operations on a real database, each test on both: SQLite and PostgreSQL
(a fresh database each), migrated to head: numbering, the open-turn guard, and the history
trimmed to the context."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session as DBSession

from avatar.conversation import ConversationError, build_messages, create_session, estimate_tokens
from avatar.db import ConversationTurn
from avatar.domain import TurnStatus
from avatar.settings import Settings
from avatar.turns import accept_user_message


@pytest.fixture
def db(migrated_engine: Engine) -> Iterator[DBSession]:
    with DBSession(migrated_engine, expire_on_commit=False) as session:
        yield session


def _finish(db: DBSession, turn_id: uuid.UUID, reply: str) -> None:
    turn = db.get(ConversationTurn, turn_id)
    assert turn is not None
    turn.ai_response, turn.status = reply, TurnStatus.COMPLETED
    db.commit()


def test_turns_are_numbered_and_an_open_turn_blocks_the_next(db: DBSession) -> None:
    settings = Settings()
    session = create_session(db)
    first = accept_user_message(db, session.session_id, "你好", settings)
    db.commit()
    assert first.turn_number == 1
    with pytest.raises(ConversationError) as refused:
        accept_user_message(db, session.session_id, "還在嗎？", settings)
    assert refused.value.code == "TURN_IN_PROGRESS"
    _finish(db, first.turn_id, "我在。")
    second = accept_user_message(db, session.session_id, "還在嗎？", settings)
    assert second.turn_number == 2


def test_a_stale_open_turn_is_closed_instead_of_blocking_forever(db: DBSession) -> None:
    settings = Settings(turn_stale_after_s=60)
    session = create_session(db)
    stuck = accept_user_message(db, session.session_id, "你好", settings)
    turn = db.get(ConversationTurn, stuck.turn_id)
    assert turn is not None
    turn.created_at = turn.created_at - timedelta(minutes=5)
    db.commit()
    accepted = accept_user_message(db, session.session_id, "有人嗎？", settings)
    db.commit()
    db.refresh(turn)
    assert turn.status == "error" and turn.error_code == "STALE_TURN"
    assert accepted.turn_number == 2


def test_unknown_session_is_refused(db: DBSession) -> None:
    with pytest.raises(ConversationError) as refused:
        accept_user_message(db, uuid.uuid4(), "你好", Settings())
    assert refused.value.code == "SESSION_NOT_FOUND"


def test_history_keeps_the_newest_exchanges_that_fit_the_context(db: DBSession) -> None:
    settings = Settings(llm_context_tokens=600, llm_max_tokens=100)
    session = create_session(db)
    for i in range(12):
        turn = accept_user_message(db, session.session_id, f"第{i}個問題" + "天氣" * 20, settings)
        _finish(db, turn.turn_id, f"第{i}個回答" + "晴朗" * 20)
    current = accept_user_message(db, session.session_id, "最後一個問題", settings)
    turn = db.get(ConversationTurn, current.turn_id)
    assert turn is not None
    messages = build_messages(db, turn, settings)

    assert messages[0] == {"role": "system", "content": settings.system_prompt}
    assert messages[-1] == {"role": "user", "content": "最後一個問題"}
    history = messages[1:-1]
    assert history and len(history) < 24, "older exchanges must be trimmed"
    assert [m["role"] for m in history] == ["user", "assistant"] * (len(history) // 2)
    assert history[-1]["content"].startswith("第11個回答"), "the newest exchange is kept"
    used = sum(estimate_tokens(m["content"]) for m in messages)
    assert used <= settings.llm_context_tokens - settings.llm_max_tokens
