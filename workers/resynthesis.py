"""The batch re-synthesis stage: render past turns again (another voice, or the HQ tier) on
the ``batch`` lane (HQ) or ``batch_fast`` (the fast tier: its engine may live in another
engine environment). The job's record and progress are in the core (``avatar/resynthesis.py``).

It runs at ``Priority.BATCH`` on its own lanes, so live sessions are not slowed. In mode
``hq`` each turn holds the single HQ slot while it is rendered (between live HQ jobs): a
turn that finds the slot taken raises ``SlotBusy`` out of the batch, whose task retries
with a countdown and resumes at that turn (finished turns are recorded one by one).

Idempotent per (turn, voice, mode): a turn whose ``mode`` rendering already exists with the
same voice is skipped. ``synthesized_audios`` keeps one rendering per (turn, mode, seq)
(its unique constraint): a rendering with another voice replaces the previous one of that
mode (files and rows), so replays always find exactly one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.chunker import split_text
from avatar.db import ConversationTurn, SynthesizedAudio
from avatar.domain import TTSMode
from avatar.jobs import ResynthesisJob
from avatar.resynthesis import is_finished, load_job, mark_completed, mark_running, progress, record_outcome
from workers.context import StageContext
from workers.gpu_guard import SlotBusy
from workers.speech_service import SpeechService


def _sentences(db: DBSession, turn: ConversationTurn) -> list[str]:
    """The sentences as they were spoken live (their stored fast rows), else the reply cut
    the way the live chunker cuts it."""
    rows = db.scalars(select(SynthesizedAudio).where(
        SynthesizedAudio.turn_id == turn.turn_id, SynthesizedAudio.mode == TTSMode.FAST.value,
    ).order_by(SynthesizedAudio.seq)).all()
    return [r.text for r in rows] or [s.strip() for s in split_text(turn.ai_response) if s.strip()]


def resynthesize_turn(ctx: StageContext, turn_id: str, *, voice_profile_id: str | None, mode: TTSMode) -> str:
    """``done`` or ``skipped`` (already rendered with this voice in this mode). Raises
    ``SlotBusy`` (HQ: retry later) and whatever the engine raises."""
    services = ctx.services
    with services.db() as db:
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
    speech = SpeechService(ctx)
    voice = speech.voice(voice_profile_id)
    with speech.holding(mode) as held:  # HQ: the single slot, for this turn
        rendered = [(text, held.speak(text, voice)) for text in sentences]
        if not held.is_current():  # lost the slot meanwhile: render this turn again, in it
            raise SlotBusy("lost the HQ slot during a re-synthesis")
    with services.db() as db:
        for row in db.scalars(select(SynthesizedAudio).where(
                SynthesizedAudio.turn_id == uuid.UUID(turn_id), SynthesizedAudio.mode == mode.value)).all():
            services.storage.delete(row.audio_url)  # another voice's rendering of this mode is replaced
            db.delete(row)
        db.flush()
        for seq, (text, spoken) in enumerate(rendered):
            speech.store_sentence(db, turn_id=turn_id, mode=mode, seq=seq, text=text, spoken=spoken,
                                  voice_profile_id=voice_profile_id)
    return "done"


def run_resynthesis(ctx: StageContext, job: ResynthesisJob) -> dict[str, Any]:
    """Raises ``SlotBusy`` (HQ: the task retries, and the batch resumes at this turn)."""
    services = ctx.services
    record = load_job(services, job.job_id)
    if record is None:
        return {"skipped": "unknown job"}
    mark_running(services, job.job_id)
    for turn_id in record.turns:
        if is_finished(services, job.job_id, turn_id):
            continue  # a redelivered or retried job resumes where it stopped
        error = None
        try:
            outcome = resynthesize_turn(ctx, turn_id, voice_profile_id=record.voice_profile_id, mode=record.mode)
        except SlotBusy:
            raise
        except Exception as exc:  # one bad turn does not stop the batch (an open HQ breaker included)
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        record_outcome(services, job.job_id, turn_id, outcome, error)
    mark_completed(services, job.job_id)
    return progress(services, job.job_id)
