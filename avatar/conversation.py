"""Conversation operations on the database: sessions, turns, and the history an LLM sees.

Used by the API (accepting a message) and by the reply worker (building the prompt and
saving the reply). Every write is one short transaction, so a turn is never half-written.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from avatar.db.models import ConversationTurn, Session, SystemLog, utcnow
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, SessionStatus, TurnStatus
from avatar.settings import Settings


class ConversationError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AcceptedTurn:
    turn_id: uuid.UUID
    session_id: uuid.UUID
    turn_number: int
    trace_id: uuid.UUID
    accepted_at: float  # unix time; latencies are measured from here


def parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def create_session(db: DBSession, meta: dict[str, Any] | None = None) -> Session:
    session = Session(status=SessionStatus.ACTIVE, meta=meta or {})
    db.add(session)
    db.flush()
    return session


def accept_user_message(
    db: DBSession, session_id: uuid.UUID, text: str, settings: Settings
) -> AcceptedTurn:
    """Store a new turn for ``text``; refuse while the previous reply is still being written."""
    session = db.get(Session, session_id)
    if session is None:
        raise ConversationError("SESSION_NOT_FOUND", f"找不到對話 {session_id}（session not found）")
    if session.status != SessionStatus.ACTIVE:
        raise ConversationError("SESSION_NOT_FOUND", "此對話已結束，請開啟新的對話（session ended）")
    open_turn = db.scalars(
        select(ConversationTurn)
        .where(
            ConversationTurn.session_id == session_id,
            ConversationTurn.status.in_([s.value for s in OPEN_TURN_STATUSES]),
        )
        .order_by(ConversationTurn.turn_number.desc())
        .limit(1)
    ).first()
    if open_turn is not None:
        created = open_turn.created_at
        if created.tzinfo is None:  # SQLite returns naive datetimes
            created = created.replace(tzinfo=utcnow().tzinfo)
        if utcnow() - created < timedelta(seconds=settings.turn_stale_after_s):
            raise ConversationError(
                "TURN_IN_PROGRESS", "上一輪回覆尚在生成中，請稍候再傳送（previous reply still in progress）"
            )
        # A reply job that never finished (its worker died for good): close it honestly.
        open_turn.status = TurnStatus.ERROR
        open_turn.error_code = ErrorCode.STALE_TURN.value
        open_turn.error_message = "reply never finished; superseded by a new message"
    number = (
        db.scalar(
            select(func.max(ConversationTurn.turn_number)).where(
                ConversationTurn.session_id == session_id
            )
        )
        or 0
    ) + 1
    turn = ConversationTurn(
        session_id=session_id, turn_number=number, user_input=text, status=TurnStatus.PENDING,
        latency={},
    )
    db.add(turn)
    db.flush()
    return AcceptedTurn(turn.turn_id, session_id, number, turn.trace_id, time.time())


def estimate_tokens(text: str) -> int:
    """Conservative: about one token per CJK character, one per 3 other characters."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return cjk + (len(text) - cjk) // 3 + 4


def build_messages(
    db: DBSession, turn: ConversationTurn, settings: Settings
) -> list[dict[str, str]]:
    """System prompt + as many earlier exchanges as fit the context window + this message."""
    budget = settings.llm_context_tokens - settings.llm_max_tokens
    budget -= estimate_tokens(settings.system_prompt) + estimate_tokens(turn.user_input)
    earlier = db.scalars(
        select(ConversationTurn)
        .where(
            ConversationTurn.session_id == turn.session_id,
            ConversationTurn.turn_number < turn.turn_number,
            ConversationTurn.ai_response != "",
        )
        .order_by(ConversationTurn.turn_number.desc())
        .limit(50)
    ).all()
    history: list[dict[str, str]] = []
    for past in earlier:  # newest first; stop at the first exchange that does not fit
        cost = estimate_tokens(past.user_input) + estimate_tokens(past.ai_response)
        if cost > budget:
            break
        budget -= cost
        history[:0] = [
            {"role": "user", "content": past.user_input},
            {"role": "assistant", "content": past.ai_response},
        ]
    return [
        {"role": "system", "content": settings.system_prompt},
        *history,
        {"role": "user", "content": turn.user_input},
    ]


def log_event(
    db: DBSession, level: str, message: str, trace_id: uuid.UUID | None = None, **meta: Any
) -> None:
    db.add(SystemLog(level=level, message=message[:4000], trace_id=trace_id, meta=meta or None))
