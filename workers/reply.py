"""The reply stage of a turn: stream the LLM, emit tokens, cut sentences, queue speech.

Runs inside the ``llm`` lane's task. It is safe to run twice for the same turn (a job whose
worker died is redelivered): a finished turn is skipped, and a restarted one gets a new
generation so the browser is told to discard the partial reply and stale speech jobs drop.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy.orm import joinedload

from avatar.chunker import SentenceChunker
from avatar.conversation import build_messages, log_event
from avatar.db import ConversationTurn
from avatar.domain import OPEN_TURN_STATUSES, ErrorCode, TTSMode
from avatar.engine_reports import report_engine
from avatar.events import LLM_TOKEN, TURN_COMPLETE, TURN_RESTARTED, TURN_STARTED
from avatar.jobs import HQTurnJob, ReplyJob, SpeechJob
from avatar.metrics import observe_llm_ttft
from avatar.text import speakable_text
from avatar.turns import (
    TurnState,
    announce_audio_complete,
    complete_turn_if_settled,
    discard_attempt,
    fail_turn,
    queue_sentence,
    save_reply,
)
from workers.context import StageContext
from workers.engines.base import EngineUnavailable
from workers.token_stream import TokenStream

log = logging.getLogger(__name__)


def run_reply(ctx: StageContext, job: ReplyJob) -> dict[str, Any]:
    queue_ms = job.queue_ms()
    services = ctx.services
    turn_id, accepted_at = job.turn_id, job.accepted_at
    # The per-hop profile (TurnState.path): written with the text_done mark, off the path.
    path = {**job.path, "reply_started": time.time()}
    state = TurnState(services.redis, turn_id)

    # Read-only on the path to first token: the turn stays ``pending`` in the database
    # until its text is saved whole.
    with services.db() as db:
        # The session's row (its voice and mode) comes in the same query.
        turn = db.get(ConversationTurn, uuid.UUID(turn_id), options=[joinedload(ConversationTurn.session)])
        if turn is None:
            log.warning("reply job for unknown turn %s dropped", turn_id)
            return {"skipped": "unknown turn"}
        if turn.status not in OPEN_TURN_STATUSES:
            return {"skipped": f"turn already {turn.status}"}
        messages = build_messages(db, turn, ctx.settings)
        session_id, trace_id = str(turn.session_id), str(turn.trace_id)
        meta = turn.session.meta or {}
        mode = TTSMode(meta.get("tts_mode", "fast"))
        voice_profile_id = meta.get("voice_profile_id")
        style = meta.get("tts_style") or None
    path["context_read"] = time.time()

    generation = state.start_generation()
    restarted = generation > 1  # a redelivered or retried job
    if restarted:
        discard_attempt(services, turn_id)
    event = TURN_RESTARTED if restarted else TURN_STARTED
    services.emitter.emit(event, {"turn_id": turn_id, "generation": generation, "queue_ms": queue_ms}, session_id)

    engine = ctx.engines.llm()
    availability = engine.availability()

    def report() -> None:
        # /health shows what the last turn found (weights downloaded since the worker started).
        report_engine(services.redis, "llm", ctx.settings.llm_engine, availability.as_dict())

    if not availability.ok:
        report()
        raise EngineUnavailable(engine.name, availability.reason, availability.fix)

    chunker = SentenceChunker()
    parts: list[str] = []
    sentences: list[str] = []
    # Mode ``both``: every sentence is spoken by the fast tier now; the HQ tier renders the
    # whole turn afterwards (workers/cloning.py) and replaces it for replays.
    live_mode = TTSMode.FAST if mode is TTSMode.BOTH else mode

    def queue(fragment: str) -> None:
        text = speakable_text(fragment)
        if not text or state.interrupted():
            return
        first = not sentences
        if first:
            path["first_sentence_cut"] = time.time()
        queue_sentence(services, SpeechJob(
            session_id=session_id, turn_id=turn_id, trace_id=trace_id, generation=generation,
            seq=len(sentences), text=text, mode=live_mode, voice_profile_id=voice_profile_id,
            style=style, accepted_at=accepted_at,
            path={"speech_queued": time.time()} if first else {},
        ))
        if first:
            path["speech_published"] = time.time()
        sentences.append(text)

    tokens = TokenStream(state, services.emitter.channel)  # published by a thread of its own
    try:
        for delta in engine.stream(messages):
            # A model's byte tokens can decode to NUL, which PostgreSQL text cannot hold: dropped
            # here, so the tokens shown, the turn_complete text and the stored reply agree.
            delta = delta.replace("\x00", "")
            if not delta:
                continue
            if sentences and tokens.interrupted:  # barge-in: the user spoke over this reply; stop writing
                break
            first_token_ms = None
            if not parts:
                path["first_token"] = now = time.time()
                first_token_ms = round((now - accepted_at) * 1000.0, 1)
                observe_llm_ttft(now - accepted_at, model=engine.name)
            parts.append(delta)
            # A finished sentence goes to its TTS lane before the token is shown: audio first.
            for fragment in chunker.feed(delta):
                queue(fragment)
            tokens.put(services.emitter.packet(LLM_TOKEN, {"turn_id": turn_id, "token": delta}, session_id),
                       first_token_ms=first_token_ms)
        for fragment in chunker.flush():
            queue(fragment)
    except BaseException:
        tokens.close(quietly=True)
        raise
    tokens.close()  # every token published before the reply's text is saved and announced

    reply = "".join(parts).strip()
    report()  # off the path to first audio
    state.mark("text_done_ms", accepted_at, path=path)
    if not save_reply(services, state, reply, len(sentences)):
        return {"turn_id": turn_id, "interrupted": True, "chars": len(reply)}
    services.emitter.emit(TURN_COMPLETE, {"turn_id": turn_id, "text": reply, "chunks": len(sentences)}, session_id)
    if sentences and mode is TTSMode.BOTH:
        services.dispatcher.hq_turn(HQTurnJob(
            session_id=session_id, turn_id=turn_id, trace_id=trace_id, generation=generation,
            sentences=sentences, voice_profile_id=voice_profile_id, style=style, accepted_at=accepted_at,
        ))
    if sentences:
        complete_turn_if_settled(services, state, session_id=session_id)
    else:  # nothing to speak: the turn ends here, with the same closing event as always
        announce_audio_complete(services, state, session_id=session_id, chunks=0)
    return {"turn_id": turn_id, "chunks": len(sentences), "chars": len(reply),
            "elapsed_s": time.time() - accepted_at}


def reply_failed(ctx: StageContext, turn_id: str, code: ErrorCode, message: str, *, fix: str = "") -> None:
    """The reply cannot be produced: tell the session, mark the turn, keep a log row."""
    services = ctx.services
    with services.db() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        if turn is None:
            return
        session_id, trace_id = turn.session_id, turn.trace_id
        log_event(db, "ERROR", f"reply failed: {message}", trace_id, turn_id=turn_id, code=str(code))
    fail_turn(services, turn_id, code, message, session_id=session_id, trace_id=trace_id, fix=fix)
