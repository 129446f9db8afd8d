"""Sessions and their turns."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select

from api.deps import DBDep, SettingsDep, StorageDep
from api.schemas import AudioOut, SessionCreated, SessionOut, TurnOut
from api.security import issue_session_token
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


def _get_session(db: DBDep, session_id: uuid.UUID) -> Session:
    session = db.get(Session, session_id)
    if session is None:
        raise HTTPException(404, detail=f"session {session_id} not found")
    return session


@router.post("", status_code=201, response_model=SessionCreated)
def create(db: DBDep, settings: SettingsDep) -> SessionCreated:
    session = create_session(db)
    # Commit before answering: a client may connect with the token at once.
    db.commit()
    SESSIONS_CREATED.inc()
    ws_base = settings.resolved_public_base_url.replace("http", "ws", 1)
    return SessionCreated(
        session_id=session.session_id,
        token=issue_session_token(settings, str(session.session_id)),
        ws_url=f"{ws_base}/socket.io",
    )


@router.get("", response_model=list[SessionOut])
def list_sessions(
    db: DBDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SessionOut]:
    rows = db.scalars(
        select(Session).order_by(Session.start_time.desc()).limit(limit).offset(offset)
    ).all()
    return [_session_out(db, s) for s in rows]


@router.get("/{session_id}", response_model=SessionOut)
def get_session(db: DBDep, session_id: uuid.UUID) -> SessionOut:
    return _session_out(db, _get_session(db, session_id))


@router.get("/{session_id}/turns", response_model=list[TurnOut])
def list_turns(db: DBDep, storage: StorageDep, session_id: uuid.UUID) -> list[TurnOut]:
    session = _get_session(db, session_id)
    turns: list[TurnOut] = []
    for turn in session.turns:
        audio = [
            AudioOut(
                audio_id=a.audio_id, mode=a.mode, seq=a.seq, text=a.text, engine=a.engine,
                duration_sec=a.duration_sec, synthesis_time_ms=a.synthesis_time_ms,
                url=storage.url(a.audio_url),
            )
            for a in turn.audios
        ]
        # Replays prefer the HQ rendering once it exists (mode ``both``, or re-synthesis).
        audio.sort(key=lambda a: (a.mode != "hq", a.seq))
        hq_key = (turn.latency or {}).get("hq_audio_key")
        replay_mode = "hq" if any(a.mode == "hq" for a in audio) else ("fast" if audio else None)
        turns.append(
            TurnOut(
                turn_id=turn.turn_id, turn_number=turn.turn_number, user_input=turn.user_input,
                ai_response=turn.ai_response, status=turn.status, error_code=turn.error_code,
                error_message=turn.error_message, trace_id=turn.trace_id, latency=turn.latency or {},
                created_at=turn.created_at, completed_at=turn.completed_at, audio=audio,
                replay_mode=replay_mode, hq_url=storage.url(hq_key) if hq_key else None,
            )
        )
    return turns
