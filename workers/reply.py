"""The reply stage of a turn: stream the LLM, emit tokens, cut sentences, queue speech.

Runs inside the ``llm`` lane's task. It is safe to run twice for the same turn (a job whose
worker died is redelivered): a finished turn is skipped, and a restarted one gets a new
generation so the browser is told to discard the partial reply and stale speech jobs drop.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from avatar.chunker import SentenceChunker
from avatar.conversation import build_messages, log_event
from avatar.db import ConversationTurn, session_scope
from avatar.db.models import utcnow
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, TTSMode, TurnStatus
from avatar.events import (
    LLM_TOKEN,
    TURN_AUDIO_COMPLETE,
    TURN_COMPLETE,
    TURN_RESTARTED,
    TURN_STARTED,
    get_emitter,
)
from avatar.metrics import observe_llm_ttft
from avatar.redis import get_redis
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from avatar.text import speakable_text
from tasks.jobs import SpeechJob
from workers.cloning import HQTurnJob
from workers.completion import complete_turn_if_settled, fail_turn
from workers.engines.base import EngineUnavailable
from workers.engines.registry import get_llm_engine
from workers.turn_state import TurnState

log = logging.getLogger(__name__)

EnqueueSpeech = Callable[[SpeechJob], None]


def run_reply(
    turn_id: str, *, accepted_at: float, enqueue_speech: EnqueueSpeech, settings: Settings | None = None,
    enqueue_hq_turn: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    settings = settings or get_settings()
    if enqueue_hq_turn is None:
        from tasks.voices import enqueue_hq_turn
    emitter = get_emitter(settings)
    state = TurnState(get_redis(settings.redis_url), turn_id)

    # Read-only on the path to first token: the turn stays ``pending`` in the database
    # until its text is saved whole.
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        if turn is None:
            log.warning("reply job for unknown turn %s dropped", turn_id)
            return {"skipped": "unknown turn"}
        if turn.status not in (TurnStatus.PENDING, TurnStatus.GENERATING):
            return {"skipped": f"turn already {turn.status}"}
        messages = build_messages(db, turn, settings)
        session_id, trace_id = str(turn.session_id), str(turn.trace_id)
        mode = TTSMode((turn.session.meta or {}).get("tts_mode", "fast"))
        voice_profile_id = (turn.session.meta or {}).get("voice_profile_id")

    generation = state.start_generation()
    restarted = generation > 1  # a redelivered or retried job
    if restarted:
        _discard_previous_attempt(turn_id, settings)
    event = TURN_RESTARTED if restarted else TURN_STARTED
    emitter.emit(event, {"turn_id": turn_id, "generation": generation}, session_id)

    engine = get_llm_engine(settings)
    availability = engine.availability()
    if not availability.ok:
        raise EngineUnavailable(engine.name, availability.reason, availability.fix)

    chunker = SentenceChunker()
    parts: list[str] = []
    sentences: list[str] = []
    seq = 0
    # Mode ``both``: every sentence is spoken by the fast tier now; the HQ tier renders the
    # whole turn afterwards (workers/cloning.py) and replaces it for replays.
    live_mode = TTSMode.FAST if mode is TTSMode.BOTH else mode

    def queue(fragment: str) -> None:
        nonlocal seq
        text = speakable_text(fragment)
        if not text or state.interrupted():
            return
        enqueue_speech(
            SpeechJob(
                session_id=session_id, turn_id=turn_id, trace_id=trace_id, generation=generation,
                seq=seq, text=text, mode=live_mode, voice_profile_id=voice_profile_id,
                accepted_at=accepted_at,
            )
        )
        sentences.append(text)
        seq += 1

    for delta in engine.stream(messages):
        if not delta:
            continue
        if seq and state.interrupted():  # barge-in: the user spoke over this reply; stop writing
            break
        if not parts:
            state.mark("first_token_ms", accepted_at)
            observe_llm_ttft(time.time() - accepted_at, model=engine.name)
        parts.append(delta)
        # A finished sentence goes to its TTS lane before the token is shown: audio first.
        for fragment in chunker.feed(delta):
            queue(fragment)
        emitter.emit(LLM_TOKEN, {"turn_id": turn_id, "token": delta}, session_id)
    for fragment in chunker.flush():
        queue(fragment)

    reply = "".join(parts).strip()
    state.mark("text_done_ms", accepted_at)
    values: dict[str, Any] = {"ai_response": reply, "status": TurnStatus.SPEAKING if seq else TurnStatus.COMPLETED}
    if not seq:
        values.update(completed_at=utcnow(), latency={**state.latency(), "chunks": 0})
    with session_scope() as db:
        # Conditional: a barge-in that stored the turn as interrupted (with the text actually
        # spoken) meanwhile wins.
        saved = db.execute(
            update(ConversationTurn)
            .where(ConversationTurn.turn_id == uuid.UUID(turn_id),
                   ConversationTurn.status.in_([s.value for s in OPEN_TURN_STATUSES]))
            .values(**values)
        ).rowcount
    if not saved:
        return {"turn_id": turn_id, "interrupted": True, "chars": len(reply)}
    state.set_expected(seq)
    emitter.emit(TURN_COMPLETE, {"turn_id": turn_id, "text": reply, "chunks": seq}, session_id)
    if seq and mode is TTSMode.BOTH:
        enqueue_hq_turn(HQTurnJob(
            session_id=session_id, turn_id=turn_id, trace_id=trace_id, generation=generation,
            sentences=sentences, voice_profile_id=voice_profile_id, accepted_at=accepted_at,
        ).model_dump(mode="json"))
    if seq:
        complete_turn_if_settled(state, session_id=session_id, settings=settings)
    else:  # nothing to speak: the turn ends here, with the same closing event as always
        emitter.emit(
            TURN_AUDIO_COMPLETE,
            {"turn_id": turn_id, "chunks": 0, "failed": 0, "latency": state.latency()},
            session_id,
        )
    return {"turn_id": turn_id, "chunks": seq, "chars": len(reply), "elapsed_s": time.time() - accepted_at}


def _discard_previous_attempt(turn_id: str, settings: Settings) -> None:
    """The audio a dead attempt already stored belongs to a reply that will not be saved."""
    storage = get_storage(settings)
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        for audio in list(turn.audios if turn else []):
            storage.delete(audio.audio_url)
            db.delete(audio)


def reply_failed(
    turn_id: str, code: ErrorCode, message: str, *, settings: Settings | None = None, fix: str = ""
) -> None:
    """The reply cannot be produced: tell the session, mark the turn, keep a log row."""
    settings = settings or get_settings()
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        if turn is None:
            return
        session_id, trace_id = turn.session_id, turn.trace_id
        log_event(db, "ERROR", f"reply failed: {message}", trace_id, turn_id=turn_id, code=str(code))
    fail_turn(turn_id, code, message, session_id=session_id, trace_id=trace_id, settings=settings, fix=fix)
