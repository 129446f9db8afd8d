"""How a turn moves after it starts: sentences queued, the reply's text saved, sentences settled, the turn
completed once every sentence is spoken, or failed with a reason; and a restarted reply's
leftovers discarded. The stages call these; none of them writes a turn's status itself.

Every status change is conditional on the status it expects, so a barge-in that stored the
turn as ``interrupted`` meanwhile always wins.
"""

from __future__ import annotations

import uuid
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import update

from avatar.conversation import log_event
from avatar.db import ConversationTurn
from avatar.db.models import utcnow
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, TurnStatus
from avatar.events import TURN_AUDIO_COMPLETE
from avatar.jobs import SpeechJob
from avatar.metrics import observe_e2e_latency
from avatar.services import Services
from avatar.turns.state import Settled, TurnState


def turn_state(services: Services, turn_id: str | uuid.UUID) -> TurnState:
    return TurnState(services.redis, turn_id)


def queue_sentence(services: Services, job: SpeechJob) -> str:
    """Send one sentence to its lane and remember its task, so a barge-in can revoke it."""
    task_id = services.dispatcher.speech(job)
    TurnState(services.redis, job.turn_id).add_task(task_id)
    return task_id


def save_reply(services: Services, state: TurnState, text: str, sentences: int) -> bool:
    """The reply's whole text: the turn becomes ``speaking`` (or ``completed`` when there is
    nothing to speak). False: the turn was interrupted meanwhile and keeps what was heard."""
    values: dict[str, Any] = {
        # PostgreSQL text cannot hold NUL, which a model's byte tokens can produce.
        "ai_response": text.replace("\x00", ""),
        "status": TurnStatus.SPEAKING if sentences else TurnStatus.COMPLETED,
    }
    if not sentences:
        values.update(completed_at=utcnow(), latency={**state.latency(), "chunks": 0})
    with services.db() as db:
        saved = db.execute(
            update(ConversationTurn)
            .where(ConversationTurn.turn_id == uuid.UUID(state.turn_id),
                   ConversationTurn.status.in_([s.value for s in OPEN_TURN_STATUSES]))
            .values(**values)
        ).rowcount
    if saved:
        state.set_expected(sentences)
    return bool(saved)


def settle_sentence(services: Services, state: TurnState, *, session_id: str, generation: int, seq: int,
                    failed: bool = False) -> None:
    """Sentence ``seq`` is spoken (or given up on); the last one completes the turn."""
    # One round trip: a restarted reply (its new attempt counts its own sentences) records
    # nothing; the last sentence claims the completion.
    if state.settle(seq, failed=failed, generation=generation) is Settled.CLAIMED:
        _complete_turn(services, state, session_id=session_id)


def sentence_failed(services: Services, state: TurnState, *, session_id: str, trace_id: str,
                    generation: int, seq: int, code: ErrorCode | str, message: str) -> None:
    """A sentence that cannot be spoken: logged, its reason kept on the turn, and settled."""
    with services.db() as db:
        log_event(db, "ERROR", f"speech failed: {message}", uuid.UUID(trace_id),
                  turn_id=state.turn_id, seq=seq, code=str(code))
        turn = db.get(ConversationTurn, uuid.UUID(state.turn_id))
        if turn is not None and turn.error_code is None:
            turn.error_code, turn.error_message = str(code), message
    settle_sentence(services, state, session_id=session_id, generation=generation, seq=seq, failed=True)


def complete_turn_if_settled(services: Services, state: TurnState, *, session_id: str) -> bool:
    if not state.claim_completion():
        return False  # not every sentence settled yet, or interrupted (the barge-in closed it)
    return _complete_turn(services, state, session_id=session_id)


def _complete_turn(services: Services, state: TurnState, *, session_id: str) -> bool:
    """The turn's completion is claimed (by this process alone): store it, tell the session."""
    latency, failed, chunks = state.closing_figures()
    if "first_audio_ms" in latency:
        observe_e2e_latency(latency["first_audio_ms"] / 1000.0)
    with services.db() as db:
        turn = db.get(ConversationTurn, uuid.UUID(state.turn_id))
        if turn is None:
            return False
        values: dict[str, object] = {"latency": {**(turn.latency or {}), **latency, "chunks": chunks}}
        if turn.status == TurnStatus.SPEAKING:
            if failed:
                values["status"] = TurnStatus.ERROR.value
                values["error_code"] = turn.error_code or ErrorCode.ENGINE_FAILED.value
                values["error_message"] = turn.error_message or f"{failed} of {chunks} sentences could not be spoken"
            else:
                values["status"] = TurnStatus.COMPLETED.value
            values["completed_at"] = utcnow()
        db.execute(
            update(ConversationTurn)
            .where(ConversationTurn.turn_id == turn.turn_id, ConversationTurn.status == turn.status)
            .values(**values)
        )
    announce_audio_complete(services, state, session_id=session_id, chunks=chunks, failed=failed, latency=latency)
    return True


def announce_audio_complete(services: Services, state: TurnState, *, session_id: str, chunks: int,
                            failed: int = 0, latency: dict[str, float] | None = None) -> None:
    services.emitter.emit(
        TURN_AUDIO_COMPLETE,
        {"turn_id": state.turn_id, "chunks": chunks, "failed": failed,
         "latency": state.latency() if latency is None else latency},
        session_id,
    )


def fail_turn(
    services: Services,
    turn_id: str,
    code: ErrorCode | str,
    message: str,
    *,
    session_id: str | uuid.UUID,
    trace_id: str | uuid.UUID,
    fix: str = "",
) -> None:
    try:
        latency = turn_state(services, turn_id).latency()
    except RedisError:  # Redis is what failed: the turn is closed all the same, without them
        latency = {}
    with services.db() as db:
        turn = db.get(ConversationTurn, uuid.UUID(str(turn_id)))
        if turn is not None and turn.status not in (TurnStatus.COMPLETED, TurnStatus.INTERRUPTED):
            turn.status = TurnStatus.ERROR
            turn.error_code = str(code)
            turn.error_message = message
            turn.completed_at = utcnow()
            turn.latency = {**(turn.latency or {}), **latency}
    extra = {"turn_id": str(turn_id)}
    if fix:
        extra["fix"] = fix
    services.emitter.error(session_id, code, message, trace_id, **extra)


def discard_attempt(services: Services, turn_id: str) -> None:
    """The audio a dead reply attempt already stored belongs to a reply that will not be saved."""
    with services.db() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        for audio in list(turn.audios if turn else []):
            services.storage.delete(audio.audio_url)
            db.delete(audio)


def record_hq_render(services: Services, turn_id: str, **latency: Any) -> bool:
    """The HQ rendering of a turn (mode ``both``) is stored: note where and how fast."""
    with services.db() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        if turn is None:
            return False
        turn.latency = {**(turn.latency or {}), **latency}
    return True
