"""Starting a turn, from typed text (the API) or a final transcript (the ``asr`` lane): store
it, then queue its reply. Written once, so both paths refuse, supersede and fail alike.

One turn at a time per session, atomically: the transaction that stores a turn first takes
the session's row for writing, so two messages arriving together are decided one after the
other (the second sees the first's open turn and gets ``TURN_IN_PROGRESS``) on SQLite (its
single writer) and PostgreSQL (the row lock) alike, instead of racing for the same number.

One exception: a spoken utterance that follows the last spoken one after a short pause
(< ``turn_continuation_s``) and began before that one's reply had any audio for the user is
the same message going on (``對……今天天氣怎麼樣``: the VAD ends an utterance after
``vad_min_silence_ms`` of silence). Refusing it would lose what the user said, so it
*continues* that turn, whether the turn is still open or barge-in has already stopped it
unheard: the turn is stored ``interrupted`` with ``continued_by``, and one new turn holds both
utterances' text in the order spoken.

And when the utterance whose barge-in stopped that turn turns out to hold no words (the
``asr`` lane rejects it: a cough, a breath, noise the VAD took for speech), the stopped
message is asked again on its own (:func:`resume_stopped_turn`): the user heard nothing of
its reply and said nothing new, so stopping it for good would leave their question
unanswered."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DBSession

from avatar.conversation import ConversationError
from avatar.db.models import ConversationTurn, Session, utcnow
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, SessionStatus, TurnStatus
from avatar.jobs import ReplyJob
from avatar.services import Services
from avatar.settings import Settings
from avatar.turns.interrupt import stop_reply
from avatar.turns.state import TurnState

log = logging.getLogger(__name__)

# Written into a spoken turn's ``latency`` when it is stored: when its utterance was spoken.
SPEECH_STARTED, SPEECH_ENDED = "speech_started_at", "speech_ended_at"


@dataclass(frozen=True)
class SpokenAt:
    """When a spoken message's utterance began and ended (unix times, the API's clock)."""

    started: float
    ended: float


@dataclass(frozen=True)
class AcceptedTurn:
    turn_id: uuid.UUID
    session_id: uuid.UUID
    turn_number: int
    trace_id: uuid.UUID
    accepted_at: float  # unix time; latencies are measured from here
    text: str = ""  # the turn's whole user input (two utterances' when it continues one)
    continues: uuid.UUID | None = None  # the open turn this utterance continued (stopped unheard)


def join_utterances(earlier: str, later: str) -> str:
    """Two utterances of one message: a comma between them unless the first already ends
    with punctuation (Whisper often closes an utterance with one)."""
    earlier, later = earlier.strip(), later.strip()
    if not earlier or not later:
        return earlier or later
    return earlier + later if earlier[-1] in "，。！？、；：,.!?;:…" else f"{earlier}，{later}"


def _continues(turn: ConversationTurn, spoken: SpokenAt, settings: Settings,
               first_audio_at: Callable[[ConversationTurn], float | None]) -> bool:
    """Whether ``spoken`` and the spoken ``turn`` (the session's latest) are one message cut
    by a pause: a short pause between them, and the later of the two utterances began before
    the earlier one's reply had any audio for the user."""
    marks = turn.latency or {}
    if SPEECH_STARTED not in marks or "continued_by" in marks:
        return False  # typed (speech over a typed message is a new message), or already merged
    if turn.status not in OPEN_TURN_STATUSES and not (turn.status == TurnStatus.INTERRUPTED
                                                       and not turn.ai_response):
        return False  # answered, or interrupted after some of its reply was heard
    turn_spoken = SpokenAt(float(marks[SPEECH_STARTED]), float(marks[SPEECH_ENDED]))
    if turn_spoken.started > spoken.started:  # the turn is the later utterance (it was transcribed first)
        return turn_spoken.started - spoken.ended <= settings.turn_continuation_s
    if spoken.started - turn_spoken.ended > settings.turn_continuation_s:
        return False
    audio_at = first_audio_at(turn)
    return audio_at is None or spoken.started < audio_at


def _merge(turn: ConversationTurn, text: str, spoken: SpokenAt) -> tuple[str, SpokenAt]:
    """The message both utterances make, in the order they were spoken, and its span."""
    marks = turn.latency or {}
    started, ended = float(marks[SPEECH_STARTED]), float(marks[SPEECH_ENDED])
    span = SpokenAt(min(started, spoken.started), max(ended, spoken.ended))
    if started > spoken.started:
        return join_utterances(text, turn.user_input), span
    return join_utterances(turn.user_input, text), span


class QueueUnavailable(Exception):
    """The turn was stored but its reply could not be queued; the turn is closed as an error."""

    def __init__(self, turn_id: str) -> None:
        super().__init__(turn_id)
        self.turn_id = turn_id


def accept_user_message(
    db: DBSession, session_id: uuid.UUID, text: str, settings: Settings, *, accepted_at: float | None = None,
    spoken: SpokenAt | None = None,
    first_audio_at: Callable[[ConversationTurn], float | None] = lambda turn: None,
) -> AcceptedTurn:
    """Store a new turn for ``text``; refuse while the previous reply is still being written,
    unless ``spoken`` continues that turn's utterance (the module's docstring). The caller stops
    a continued turn's reply after the commit (:func:`start_turn` does)."""
    latest = _lock_session(db, session_id)
    # Only ever one open turn per session, and nothing can be stored after it: the latest.
    open_turn = latest if latest is not None and latest.status in OPEN_TURN_STATUSES else None
    stale = open_turn is not None and utcnow() - _aware(open_turn.created_at) >= timedelta(
        seconds=settings.turn_stale_after_s)
    continued: ConversationTurn | None = None
    if stale:
        # A reply job that never finished (its worker died for good): close it honestly.
        assert open_turn is not None
        open_turn.status = TurnStatus.ERROR
        open_turn.error_code = ErrorCode.STALE_TURN.value
        open_turn.error_message = "reply never finished; superseded by a new message"
    elif latest is not None and spoken is not None and _continues(latest, spoken, settings, first_audio_at):
        continued = latest
        text, spoken = _merge(latest, text, spoken)
        latest.status, latest.ai_response = TurnStatus.INTERRUPTED, ""
        latest.completed_at = latest.completed_at or utcnow()
    elif open_turn is not None:
        raise ConversationError(
            "TURN_IN_PROGRESS", "上一輪回覆尚在生成中，請稍候再傳送（previous reply still in progress）"
        )
    return _store_turn(db, session_id, latest, text, spoken, continued, accepted_at)


def _lock_session(db: DBSession, session_id: uuid.UUID) -> ConversationTurn | None:
    """Take the session's row for writing (or refuse: unknown or ended) and return its latest
    turn, read after any other start on the session has committed."""
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
    return db.scalars(
        select(ConversationTurn)
        .where(ConversationTurn.session_id == session_id)
        .order_by(ConversationTurn.turn_number.desc())
        .limit(1)
    ).first()


def _store_turn(db: DBSession, session_id: uuid.UUID, latest: ConversationTurn | None, text: str,
                spoken: SpokenAt | None, continued: ConversationTurn | None,
                accepted_at: float | None) -> AcceptedTurn:
    number = (latest.turn_number if latest is not None else 0) + 1
    turn = ConversationTurn(
        session_id=session_id, turn_number=number, user_input=text, status=TurnStatus.PENDING,
        latency={SPEECH_STARTED: spoken.started, SPEECH_ENDED: spoken.ended} if spoken else {},
    )
    db.add(turn)
    db.flush()
    if continued is not None:
        continued.latency = {**(continued.latency or {}), "continued_by": str(turn.turn_id)}
    return AcceptedTurn(turn.turn_id, session_id, number, turn.trace_id, accepted_at or time.time(),
                        text=text, continues=continued.turn_id if continued is not None else None)


def resume_stopped_turn(
    db: DBSession, session_id: uuid.UUID, spoken: SpokenAt, settings: Settings, *,
    accepted_at: float | None = None,
    first_audio_at: Callable[[ConversationTurn], float | None] = lambda turn: None,
) -> AcceptedTurn | None:
    """An utterance without words (``spoken``: when it was spoken) whose barge-in stopped the
    session's latest turn before any of that reply was heard: store that turn's message again,
    alone, as a new turn that ``continues`` it (the module's docstring). None when there is
    nothing to resume: the latest turn is open, answered, heard, typed, already continued, or
    the utterance came after more than a short pause."""
    latest = _lock_session(db, session_id)
    if latest is None or latest.status != TurnStatus.INTERRUPTED:
        return None  # nothing was stopped: an open turn still gets its reply
    if not _continues(latest, spoken, settings, first_audio_at):
        return None
    marks = latest.latency or {}
    span = SpokenAt(float(marks[SPEECH_STARTED]), float(marks[SPEECH_ENDED]))
    return _store_turn(db, session_id, latest, latest.user_input, span, latest, accepted_at)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite: naive


def first_audio_at(client: redis.Redis) -> Callable[[ConversationTurn], float | None]:
    """When a spoken turn's first audio went out (unix time), from its live latency marks
    (milliseconds after its utterance ended); None while it has none."""

    def when(turn: ConversationTurn) -> float | None:
        first_audio_ms = TurnState(client, turn.turn_id).latency().get("first_audio_ms")
        ended = (turn.latency or {}).get(SPEECH_ENDED)
        return None if first_audio_ms is None or ended is None else float(ended) + first_audio_ms / 1000.0

    return when


def start_turn(
    services: Services, session_id: uuid.UUID, text: str, *, accepted_at: float | None = None,
    path: dict[str, float] | None = None, spoken: SpokenAt | None = None,
) -> AcceptedTurn:
    """Store the turn and queue its reply. Raises ``ConversationError`` (refused: nothing
    stored) or :class:`QueueUnavailable` (the broker is down: the turn is closed as an error
    instead of staying pending forever). ``accepted_at``: a spoken turn counts from the end
    of speech. ``path``: the hops before this one (unix times), carried on for the profile.
    ``spoken``: when the utterance was spoken; it may continue the open turn (the module's
    docstring), whose reply is stopped here, after the commit."""
    with services.db() as db:
        accepted = accept_user_message(db, session_id, text, services.settings, accepted_at=accepted_at,
                                       spoken=spoken, first_audio_at=first_audio_at(services.redis))
    if accepted.continues is not None:
        stop_reply(services, str(accepted.continues), str(session_id))
    return _queue_reply(services, accepted, path)


def resume_turn(services: Services, session_id: uuid.UUID, spoken: SpokenAt, *,
                accepted_at: float | None = None) -> AcceptedTurn | None:
    """:func:`resume_stopped_turn`, then its reply queued as :func:`start_turn` queues one.
    Raises what :func:`start_turn` raises; None when there was nothing to resume."""
    with services.db() as db:
        accepted = resume_stopped_turn(db, session_id, spoken, services.settings, accepted_at=accepted_at,
                                       first_audio_at=first_audio_at(services.redis))
    return None if accepted is None else _queue_reply(services, accepted, None)


def _queue_reply(services: Services, accepted: AcceptedTurn, path: dict[str, float] | None) -> AcceptedTurn:
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
