"""Starting a turn, from typed text (the API) or a final transcript (the ``asr`` lane): store
it, then queue its reply. Written once, so both paths refuse, supersede and fail alike.

One turn at a time per session, atomically: the transaction that stores a turn first takes
the session's row for writing, so two messages arriving together are decided one after the
other (the second sees the first's open turn and gets ``TURN_IN_PROGRESS``) on SQLite (its
single writer) and PostgreSQL (the row lock) alike, instead of racing for the same number."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DBSession

from avatar.conversation import ConversationError
from avatar.db.models import ConversationTurn, Session, utcnow
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, SessionStatus, TurnStatus
from avatar.jobs import ReplyJob
from avatar.services import Services
from avatar.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedTurn:
    turn_id: uuid.UUID
    session_id: uuid.UUID
    turn_number: int
    trace_id: uuid.UUID
    accepted_at: float  # unix time; latencies are measured from here


class QueueUnavailable(Exception):
    """The turn was stored but its reply could not be queued; the turn is closed as an error."""

    def __init__(self, turn_id: str) -> None:
        super().__init__(turn_id)
        self.turn_id = turn_id


def accept_user_message(
    db: DBSession, session_id: uuid.UUID, text: str, settings: Settings, *, accepted_at: float | None = None
) -> AcceptedTurn:
    """Store a new turn for ``text``; refuse while the previous reply is still being written."""
    # A write that changes nothing, first in the transaction: it waits for any other start on
    # this session to commit, and everything read below is read after it.
    # RETURNING: the session's status comes back with the write, no query of its own.
    status = db.execute(
        update(Session).where(Session.session_id == session_id).values(status=Session.status)
        .returning(Session.status).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if status is None:
        raise ConversationError("SESSION_NOT_FOUND", f"找不到對話 {session_id}（session not found）")
    if status != SessionStatus.ACTIVE:
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
    return AcceptedTurn(turn.turn_id, session_id, number, turn.trace_id, accepted_at or time.time())


def start_turn(
    services: Services, session_id: uuid.UUID, text: str, *, accepted_at: float | None = None,
    path: dict[str, float] | None = None,
) -> AcceptedTurn:
    """Store the turn and queue its reply. Raises ``ConversationError`` (refused: nothing
    stored) or :class:`QueueUnavailable` (the broker is down: the turn is closed as an error
    instead of staying pending forever). ``accepted_at``: a spoken turn counts from the end
    of speech. ``path``: the hops before this one (unix times), carried on for the profile."""
    with services.db() as db:
        accepted = accept_user_message(db, session_id, text, services.settings, accepted_at=accepted_at)
    hops = {**(path or {}), "accepted": accepted.accepted_at, "committed": time.time()}
    try:
        services.dispatcher.reply(ReplyJob(turn_id=str(accepted.turn_id), accepted_at=accepted.accepted_at,
                                           path=hops))
    except Exception as exc:
        log.exception("could not enqueue reply")
        with services.db() as db:
            turn = db.get(ConversationTurn, accepted.turn_id)
            if turn is not None:
                turn.status, turn.error_code = TurnStatus.ERROR.value, ErrorCode.QUEUE_UNAVAILABLE.value
                turn.error_message = str(exc)
                turn.completed_at = utcnow()
        raise QueueUnavailable(str(accepted.turn_id)) from exc
    return accepted
