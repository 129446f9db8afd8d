"""Closing a turn: completed once every sentence is spoken, or failed with a reason."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from avatar.db import ConversationTurn, session_scope
from avatar.db.models import utcnow
from avatar.domain import ErrorCode, TurnStatus
from avatar.metrics import observe_e2e_latency
from avatar.events import TURN_AUDIO_COMPLETE, get_emitter
from avatar.redis import get_redis
from avatar.settings import Settings
from workers.turn_state import TurnState


def complete_turn_if_settled(state: TurnState, *, session_id: str, settings: Settings) -> bool:
    if state.interrupted() or not state.claim_completion():
        return False  # an interrupted turn was closed by the barge-in
    latency = state.latency()
    failed = state.failed_count()
    if "first_audio_ms" in latency:
        observe_e2e_latency(latency["first_audio_ms"] / 1000.0)
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(state.turn_id))
        if turn is None:
            return False
        chunks = int(state.r.get(state.key("expected")) or 0)
        values: dict[str, object] = {"latency": {**(turn.latency or {}), **latency, "chunks": chunks}}
        if turn.status == TurnStatus.SPEAKING:
            if failed:
                values["status"] = TurnStatus.ERROR.value
                values["error_code"] = turn.error_code or ErrorCode.ENGINE_FAILED.value
                values["error_message"] = turn.error_message or f"{failed} of {chunks} sentences could not be spoken"
            else:
                values["status"] = TurnStatus.COMPLETED.value
            values["completed_at"] = utcnow()
        # Conditional: a barge-in that stored the turn as interrupted meanwhile wins.
        db.execute(
            update(ConversationTurn)
            .where(ConversationTurn.turn_id == turn.turn_id, ConversationTurn.status == turn.status)
            .values(**values)
        )
    get_emitter(settings).emit(
        TURN_AUDIO_COMPLETE,
        {"turn_id": state.turn_id, "chunks": chunks, "failed": failed, "latency": latency},
        session_id,
    )
    return True


def fail_turn(
    turn_id: str,
    code: ErrorCode | str,
    message: str,
    *,
    session_id: str | uuid.UUID,
    trace_id: str | uuid.UUID,
    settings: Settings,
    fix: str = "",
) -> None:
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(str(turn_id)))
        if turn is not None and turn.status not in (TurnStatus.COMPLETED, TurnStatus.INTERRUPTED):
            turn.status = TurnStatus.ERROR
            turn.error_code = str(code)
            turn.error_message = message
            turn.completed_at = utcnow()
            turn.latency = {**(turn.latency or {}), **TurnState(get_redis(settings.redis_url), turn_id).latency()}
    extra = {"turn_id": str(turn_id)}
    if fix:
        extra["fix"] = fix
    get_emitter(settings).error(session_id, code, message, trace_id, **extra)
