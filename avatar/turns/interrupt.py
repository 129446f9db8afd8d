"""Barge-in: the user speaks while the assistant's reply is still being written, synthesised
or played. The reply stops for good and the turn is stored with what was actually heard.

- A Redis flag (``TurnState.interrupt``) that the reply worker checks before queueing each
  sentence and the speech workers check before synthesising and again before emitting, so
  no sentence of the old turn reaches the browser afterwards;
- its queued speech jobs are revoked, so they do not even run;
- the turn becomes ``interrupted`` with ``ai_response`` = the text actually spoken, counted in
  characters from the client's ``playback_state`` (sentence ``played_seq``, ``played_ms`` into
  it, in proportion to the sentence's duration);
- ``interrupt {turn_id, spoken_text}`` tells the browser to stop playing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from avatar.conversation import log_event
from avatar.db import ConversationTurn, SynthesizedAudio
from avatar.db.models import utcnow
from avatar.domain import TurnStatus
from avatar.events import INTERRUPT
from avatar.services import Services
from avatar.turns.state import TurnState

log = logging.getLogger(__name__)

ACTIVE_STATUSES = (TurnStatus.PENDING, TurnStatus.SPEAKING)


@dataclass
class Playback:
    """What the client last reported about the assistant's audio."""

    turn_id: str = ""
    state: str = "idle"  # playing | idle
    played_seq: int = 0  # the sentence playing (or last played)
    played_ms: float = 0.0  # how far into that sentence


def spoken_text(sentences: list[tuple[int, str, float]], played_seq: int, played_ms: float) -> str:
    """The characters heard: every sentence before ``played_seq`` and the share of that one
    that ``played_ms`` covers (Chinese: characters are spoken at a roughly even pace)."""
    heard: list[str] = []
    for seq, text, duration_s in sorted(sentences):
        if seq < played_seq:
            heard.append(text)
        elif seq == played_seq and duration_s > 0:
            share = min(1.0, max(0.0, played_ms / (duration_s * 1000.0)))
            heard.append(text[: int(len(text) * share)])
    return "".join(heard)


def _halt(services: Services, turn_id: str) -> list[str] | None:
    """Raise the turn's interrupt flag (the stages stop at their next check) and revoke its
    queued speech jobs; None if it was already interrupted."""
    state = TurnState(services.redis, turn_id)
    if not state.interrupt():
        return None
    task_ids = state.task_ids()
    services.dispatcher.revoke(task_ids)
    return task_ids


def stop_reply(services: Services, turn_id: str, session_id: str) -> None:
    """Stop a turn's reply that nobody has heard: the turn's row is already stored as
    ``interrupted`` (a continued utterance took its place, :mod:`avatar.turns.start`); its
    stages stop and the browser drops whatever of it arrived."""
    task_ids = _halt(services, turn_id)
    services.emitter.emit(INTERRUPT, {"turn_id": turn_id, "spoken_text": "", "revoked": len(task_ids or []),
                                      "reason": "continued"}, session_id)


def interrupt_active_turn(services: Services, session_id: str, playback: Playback) -> dict[str, Any] | None:
    """Interrupt the session's reply if one is in progress or still playing; None otherwise."""
    with services.db() as db:
        turn = db.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.session_id == uuid.UUID(session_id))
            .order_by(ConversationTurn.turn_number.desc())
            .limit(1)
        ).first()
        if turn is None:
            return None
        playing = playback.state == "playing" and playback.turn_id == str(turn.turn_id)
        if turn.status not in ACTIVE_STATUSES and not playing:
            return None
        turn_id = str(turn.turn_id)
        task_ids = _halt(services, turn_id)
        if task_ids is None:
            return None  # already interrupted
        state = TurnState(services.redis, turn_id)
        sentences = [
            (a.seq, a.text, a.duration_sec)
            for a in db.scalars(select(SynthesizedAudio).where(SynthesizedAudio.turn_id == turn.turn_id))
        ]
        heard = spoken_text(sentences, playback.played_seq, playback.played_ms) if (
            playback.turn_id == turn_id and playback.state == "playing") else ""
        previous_status = turn.status
        turn.status = TurnStatus.INTERRUPTED
        turn.ai_response = heard
        turn.completed_at = turn.completed_at or utcnow()
        turn.latency = {
            **(turn.latency or {}), **state.latency(),
            "interrupted": {"played_seq": playback.played_seq, "played_ms": playback.played_ms,
                            "spoken_chars": len(heard), "was": str(previous_status)},
        }
        log_event(db, "INFO", "reply interrupted by the user (barge-in)", turn.trace_id,
                  turn_id=turn_id, revoked=len(task_ids), spoken_chars=len(heard))
    payload = {"turn_id": turn_id, "spoken_text": heard, "revoked": len(task_ids), "reason": "barge_in"}
    services.emitter.emit(INTERRUPT, payload, session_id)
    return payload
