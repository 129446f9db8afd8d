"""Batch re-synthesis of past turns (another voice, or the HQ tier) on the ``batch`` lane.

A job is a Redis hash (``avatar:resynth:{job_id}``: the request, ``total``, ``done``,
``skipped``, ``failed``, ``status``) that the API and ``avatar resynth`` read for progress.
It runs at ``Priority.BATCH`` on its own lane, so live sessions are not slowed; in mode
``hq`` each turn is rendered inside the single HQ slot, between live HQ jobs.

Idempotent per (turn, voice, mode): a turn whose ``mode`` rendering already exists with the
same voice is skipped. ``synthesized_audios`` keeps one rendering per (turn, mode, seq)
(its unique constraint): a rendering with another voice replaces the previous one of that
mode (files and rows), so replays always find exactly one.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from avatar.chunker import split_text
from avatar.db import ConversationTurn, Session, SynthesizedAudio, VoiceProfile, session_scope
from avatar.domain import TTSMode
from avatar.redis import get_redis
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from workers.cloning import speak, store_sentence
from workers.engines.registry import get_tts_engine
from workers.hq_guard import SlotBusy, hq_slot
from workers.voice_profiles import load_voice_reference


class UnknownTarget(LookupError):
    """The request names a session or voice profile that does not exist (or is no id at all)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _existing(db: Any, model: type, value: str, code: str, message: str) -> None:
    try:
        key = uuid.UUID(value)
    except ValueError:
        raise UnknownTarget(code, f"{message}: {value!r} is not an id") from None
    if db.get(model, key) is None:
        raise UnknownTarget(code, f"{message}: {value}")


def _key(job_id: str) -> str:
    return f"avatar:resynth:{job_id}"


def select_turns(*, session_id: str | None, since: datetime | None) -> list[str]:
    with session_scope() as db:
        query = select(ConversationTurn.turn_id).where(ConversationTurn.ai_response != "")
        if session_id:
            query = query.where(ConversationTurn.session_id == uuid.UUID(session_id))
        if since:
            query = query.where(ConversationTurn.created_at >= since)
        query = query.order_by(ConversationTurn.created_at, ConversationTurn.turn_number)
        return [str(t) for t in db.scalars(query).all()]


def create_job(*, session_id: str | None, since: datetime | None, voice_profile_id: str | None,
               mode: TTSMode, settings: Settings) -> dict[str, Any]:
    """Raises ``UnknownTarget`` before anything is queued when an id names nothing: a typo
    must not turn into a job that fails every turn (unknown voice) or silently does nothing
    (unknown session)."""
    with session_scope() as db:
        if session_id:
            _existing(db, Session, session_id, "SESSION_NOT_FOUND", "找不到此對話（session not found）")
        if voice_profile_id:
            _existing(db, VoiceProfile, voice_profile_id, "VOICE_NOT_FOUND", "找不到此聲音檔（voice profile not found）")
    turns = select_turns(session_id=session_id, since=since)
    job_id = uuid.uuid4().hex
    state = {
        "job_id": job_id, "status": "queued", "mode": mode.value, "voice_profile_id": voice_profile_id or "",
        "session_id": session_id or "", "since": since.isoformat() if since else "",
        "turns": json.dumps(turns), "total": len(turns), "done": 0, "skipped": 0, "failed": 0,
        "created_at": time.time(),
    }
    client = get_redis(settings.redis_url)
    client.hset(_key(job_id), mapping=state)
    client.expire(_key(job_id), settings.resynth_progress_ttl_s)
    return progress(job_id, settings)


def progress(job_id: str, settings: Settings) -> dict[str, Any]:
    raw = get_redis(settings.redis_url).hgetall(_key(job_id))
    if not raw:
        return {}
    state = {k.decode(): v.decode() for k, v in raw.items()}
    state.pop("turns", None)
    for field in ("total", "done", "skipped", "failed"):
        state[field] = int(state.get(field, 0))
    finished = state["done"] + state["skipped"] + state["failed"]
    state["progress"] = round(finished / state["total"], 4) if state["total"] else 1.0
    return state


def _sentences(db: Any, turn: ConversationTurn) -> list[str]:
    """The sentences as they were spoken live (their stored fast rows), else the reply cut
    the way the live chunker cuts it."""
    rows = db.scalars(select(SynthesizedAudio).where(
        SynthesizedAudio.turn_id == turn.turn_id, SynthesizedAudio.mode == TTSMode.FAST.value,
    ).order_by(SynthesizedAudio.seq)).all()
    return [r.text for r in rows] or [s.strip() for s in split_text(turn.ai_response) if s.strip()]


def resynthesize_turn(turn_id: str, *, voice_profile_id: str | None, mode: TTSMode, settings: Settings) -> str:
    """``done`` or ``skipped`` (already rendered with this voice in this mode)."""
    storage = get_storage(settings)
    with session_scope() as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        if turn is None:
            return "skipped"
        if voice_profile_id is None:  # no voice given: the one the turn was spoken with live
            live = db.scalar(select(SynthesizedAudio.voice_profile_id).where(
                SynthesizedAudio.turn_id == turn.turn_id, SynthesizedAudio.mode == TTSMode.FAST.value))
            voice_profile_id = str(live) if live else None
        voice_uuid = uuid.UUID(voice_profile_id) if voice_profile_id else None
        existing = db.scalars(select(SynthesizedAudio).where(
            SynthesizedAudio.turn_id == turn.turn_id, SynthesizedAudio.mode == mode.value)).all()
        sentences = _sentences(db, turn)
        if existing and all(r.voice_profile_id == voice_uuid for r in existing) and len(existing) >= len(sentences):
            return "skipped"
    engine = get_tts_engine(mode, settings)
    voice = load_voice_reference(voice_profile_id, settings)
    rendered = []
    for text in sentences:
        started = time.perf_counter()
        clip = speak(engine, text, voice)
        rendered.append((text, clip, (time.perf_counter() - started) * 1000.0))
    with session_scope() as db:
        for row in db.scalars(select(SynthesizedAudio).where(
                SynthesizedAudio.turn_id == uuid.UUID(turn_id), SynthesizedAudio.mode == mode.value)).all():
            storage.delete(row.audio_url)  # another voice's rendering of this mode is replaced
            db.delete(row)
        db.flush()
        for seq, (text, clip, ms) in enumerate(rendered):
            store_sentence(db, settings, turn_id=turn_id, mode=mode.value, seq=seq, text=text, clip=clip,
                           engine=engine.name, synthesis_ms=ms, voice_profile_id=voice_profile_id)
    return "done"


def run_resynthesis(job_id: str, *, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    client = get_redis(settings.redis_url)
    raw = client.hgetall(_key(job_id))
    if not raw:
        return {"skipped": "unknown job"}
    state = {k.decode(): v.decode() for k, v in raw.items()}
    mode = TTSMode(state["mode"])
    voice = state.get("voice_profile_id") or None
    client.hset(_key(job_id), mapping={"status": "running", "started_at": time.time()})
    for turn_id in json.loads(state["turns"]):
        if client.sismember(_key(job_id) + ":finished", turn_id):
            continue  # a redelivered job resumes where the dead one stopped
        try:
            if mode is TTSMode.HQ:
                outcome = _in_hq_slot(turn_id, voice, settings)
            else:
                outcome = resynthesize_turn(turn_id, voice_profile_id=voice, mode=mode, settings=settings)
        except Exception as exc:  # one bad turn does not stop the batch
            outcome = "failed"
            client.hset(_key(job_id), "last_error", f"{turn_id}: {type(exc).__name__}: {exc}"[:500])
        pipe = client.pipeline()
        pipe.hincrby(_key(job_id), outcome, 1)
        pipe.sadd(_key(job_id) + ":finished", turn_id)
        pipe.expire(_key(job_id) + ":finished", settings.resynth_progress_ttl_s)
        pipe.execute()
    client.hset(_key(job_id), mapping={"status": "completed", "finished_at": time.time()})
    return progress(job_id, settings)


def _in_hq_slot(turn_id: str, voice: str | None, settings: Settings) -> str:
    """HQ renderings share the single HQ slot with live turns (one GPU job at a time)."""
    client = get_redis(settings.redis_url)
    while True:
        try:
            with hq_slot(client, settings):
                return resynthesize_turn(turn_id, voice_profile_id=voice, mode=TTSMode.HQ, settings=settings)
        except SlotBusy:
            time.sleep(0.5)  # batch waits behind live HQ work; it holds no other resource
