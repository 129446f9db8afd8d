"""A batch re-synthesis job's record: what was asked, which turns, and how far it got.

The record is a Redis hash (``avatar:resynth:{job_id}``: the request, ``turns``, ``total``,
``done``, ``skipped``, ``failed``, ``status``) that the API and ``avatar resynth`` read for
progress, plus the set ``...:finished`` of turns already dealt with, so a redelivered or
retried job resumes where it stopped. The stage that renders the turns is
``workers/resynthesis.py``; it runs on the ``batch`` lane (``ResynthesisJob``).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from avatar.db import ConversationTurn, Session, VoiceProfile
from avatar.domain import ErrorCode, TTSMode
from avatar.jobs import ResynthesisJob
from avatar.services import Services
from avatar.voice_upload import READY, profile_status

OUTCOMES = ("done", "skipped", "failed")


class UnknownTarget(LookupError):
    """The request names a session or voice profile that does not exist (or is no id at all)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ResynthesisRecord:
    job_id: str
    mode: TTSMode
    voice_profile_id: str | None  # None: each turn keeps the voice it was spoken with
    turns: list[str]


def _key(job_id: str) -> str:
    return f"avatar:resynth:{job_id}"


def _finished_key(job_id: str) -> str:
    return f"{_key(job_id)}:finished"


def _require(db: Any, model: type, value: str, code: str, message: str, owner_id: uuid.UUID | None) -> Any:
    try:
        key = uuid.UUID(value)
    except ValueError:
        raise UnknownTarget(code, f"{message}: {value!r} is not an id") from None
    row = db.get(model, key)
    # Another owner's row is reported exactly as a missing one.
    if row is None or (owner_id is not None and row.owner_id != owner_id):
        raise UnknownTarget(code, f"{message}: {value}")
    return row


def select_turns(services: Services, *, session_id: str | None, since: datetime | None,
                 owner_id: uuid.UUID | None = None) -> list[str]:
    """Turns with a reply, oldest first: a session's, or everyone's since a time (with
    ``owner_id``: only that owner's sessions)."""
    with services.db() as db:
        query = select(ConversationTurn.turn_id).where(ConversationTurn.ai_response != "")
        if owner_id is not None:
            query = query.join(Session, Session.session_id == ConversationTurn.session_id).where(
                Session.owner_id == owner_id)
        if session_id:
            query = query.where(ConversationTurn.session_id == uuid.UUID(session_id))
        if since:
            query = query.where(ConversationTurn.created_at >= since)
        query = query.order_by(ConversationTurn.created_at, ConversationTurn.turn_number)
        return [str(t) for t in db.scalars(query).all()]


def create_job(services: Services, *, session_id: str | None, since: datetime | None,
               voice_profile_id: str | None, mode: TTSMode, owner_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Record the job and queue it on the ``batch`` lane; returns its progress. Raises
    :class:`UnknownTarget` before anything is recorded or queued when an id names nothing:
    a typo must not turn into a job that fails every turn (unknown voice) or silently does
    nothing (unknown session). With ``owner_id`` (an owner's request) only that owner's
    sessions and voices count; without it (the operator, the CLI) everyone's."""
    with services.db() as db:
        if session_id:
            _require(db, Session, session_id, "SESSION_NOT_FOUND", "找不到此對話（session not found）", owner_id)
        if voice_profile_id:
            voice = _require(db, VoiceProfile, voice_profile_id, "VOICE_NOT_FOUND",
                             "找不到此聲音檔（voice profile not found）", owner_id)
            status = profile_status(voice.meta)
            if status != READY:  # it would speak every turn without the voice
                raise UnknownTarget(ErrorCode.VOICE_NOT_READY.value,
                                    f"此聲音檔尚未可用（{status}），請等分析完成（voice profile not ready）")
    turns = select_turns(services, session_id=session_id, since=since, owner_id=owner_id)
    job_id = uuid.uuid4().hex
    state = {
        "job_id": job_id, "status": "queued", "mode": mode.value, "voice_profile_id": voice_profile_id or "",
        "session_id": session_id or "", "since": since.isoformat() if since else "",
        "owner_id": str(owner_id) if owner_id else "",  # whose progress it is (REST shows it to them)
        "turns": json.dumps(turns), "total": len(turns), "done": 0, "skipped": 0, "failed": 0,
        "created_at": time.time(),
    }
    pipe = services.redis.pipeline()
    pipe.hset(_key(job_id), mapping=state)
    pipe.expire(_key(job_id), services.settings.resynth_progress_ttl_s)
    pipe.execute()
    try:
        services.dispatcher.resynthesis(ResynthesisJob(job_id=job_id, mode=mode))
    except Exception:
        # The caller never learns this job id, so a record left "queued" would only be noise
        # in the operator's view; best effort, since Redis itself may be what is down.
        with contextlib.suppress(Exception):
            services.redis.delete(_key(job_id))
        raise
    return progress(services, job_id)


def progress(services: Services, job_id: str) -> dict[str, Any]:
    """The job's request and counts, with ``progress`` in 0..1; ``{}`` for an unknown job."""
    raw = services.redis.hgetall(_key(job_id))
    if not raw:
        return {}
    state = {k.decode(): v.decode() for k, v in raw.items()}
    state.pop("turns", None)
    for field in ("total", *OUTCOMES):
        state[field] = int(state.get(field, 0))
    finished = sum(state[outcome] for outcome in OUTCOMES)
    state["progress"] = round(finished / state["total"], 4) if state["total"] else 1.0
    return state


def load_job(services: Services, job_id: str) -> ResynthesisRecord | None:
    raw = services.redis.hmget(_key(job_id), ["mode", "voice_profile_id", "turns"])
    if raw[0] is None:
        return None
    mode, voice, turns = (value.decode() if value is not None else "" for value in raw)
    return ResynthesisRecord(job_id, TTSMode(mode), voice or None, json.loads(turns or "[]"))


def mark_running(services: Services, job_id: str) -> None:
    services.redis.hset(_key(job_id), "status", "running")
    services.redis.hsetnx(_key(job_id), "started_at", time.time())  # a retry keeps the first start


def is_finished(services: Services, job_id: str, turn_id: str) -> bool:
    return bool(services.redis.sismember(_finished_key(job_id), turn_id))


def record_outcome(services: Services, job_id: str, turn_id: str, outcome: str, error: str | None = None) -> None:
    """One turn dealt with: ``done``, ``skipped`` (already rendered so) or ``failed``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    pipe = services.redis.pipeline()
    if error:
        pipe.hset(_key(job_id), "last_error", f"{turn_id}: {error}"[:500])
    pipe.hincrby(_key(job_id), outcome, 1)
    pipe.sadd(_finished_key(job_id), turn_id)
    pipe.expire(_finished_key(job_id), services.settings.resynth_progress_ttl_s)
    pipe.execute()


def mark_completed(services: Services, job_id: str) -> None:
    services.redis.hset(_key(job_id), mapping={"status": "completed", "finished_at": time.time()})
