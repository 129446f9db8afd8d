"""Sessions and their turns, each only for its owner (``CallerDep``); the operator sees all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.deps import CallerDep, DBDep, OwnedSessionDep, SettingsDep, StorageDep
from api.schemas import SessionCreated, SessionOut, TurnOut, error_responses
from api.security import issue_session_token
from api.turn_history import turns_out
from avatar.conversation import create_session
from avatar.db import ConversationTurn, Session
from avatar.metrics import SESSIONS_CREATED

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


def _session_out(db: DBDep, session: Session) -> SessionOut:
    count = db.scalar(
        select(func.count()).select_from(ConversationTurn).where(ConversationTurn.session_id == session.session_id)
    )
    return SessionOut(
        session_id=session.session_id, status=session.status, start_time=session.start_time,
        end_time=session.end_time, turn_count=count or 0, metadata=session.meta or {},
    )


@router.post("", status_code=201, response_model=SessionCreated, responses=error_responses(401))
def create(db: DBDep, settings: SettingsDep, caller: CallerDep) -> SessionCreated:
    """A new session of the caller's; its token (for Socket.IO) is only ever given here."""
    session = create_session(db)
    session.owner_id = caller.owner_id
    # Commit before answering: a client may connect with the token at once.
    db.commit()
    SESSIONS_CREATED.inc()
    ws_base = settings.resolved_public_base_url.replace("http", "ws", 1)
    return SessionCreated(
        session_id=session.session_id,
        token=issue_session_token(settings, str(session.session_id)),
        ws_url=f"{ws_base}/socket.io",
    )


@router.get("", response_model=list[SessionOut], responses=error_responses(401, 422))
def list_sessions(
    db: DBDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    # Bounded well inside a 64-bit integer: the database's OFFSET overflows past 2**63 - 1.
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[SessionOut]:
    """The caller's sessions, newest first (the operator's listing has everyone's)."""
    query = select(Session)
    if not caller.is_operator:
        query = query.where(Session.owner_id == caller.owner_id)
    rows = db.scalars(query.order_by(Session.start_time.desc()).limit(limit).offset(offset)).all()
    return [_session_out(db, s) for s in rows]


@router.get("/{session_id}", response_model=SessionOut, responses=error_responses(401, 404, 422))
def get_session(db: DBDep, session: OwnedSessionDep) -> SessionOut:
    return _session_out(db, session)


@router.get("/{session_id}/turns", response_model=list[TurnOut], responses=error_responses(401, 404, 422))
def list_turns(session: OwnedSessionDep, storage: StorageDep) -> list[TurnOut]:
    return turns_out(session, storage)
