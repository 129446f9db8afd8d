"""Conversation records on the database: sessions, the history an LLM sees, log rows.

A turn's life (start, settle, complete, fail, interrupt) is in :mod:`avatar.turns`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.db.models import ConversationTurn, Session, SystemLog
from avatar.domain import SessionStatus
from avatar.settings import Settings


class ConversationError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    # Two columns, not whole rows: a long session would hydrate up to 50 ORM objects per turn.
    earlier = db.execute(
        select(ConversationTurn.user_input, ConversationTurn.ai_response)
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
