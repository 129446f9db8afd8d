"""The prosody lane's job: stored utterance -> report -> ``prosody_scores`` row -> the
``prosody_analysis`` event to the session. Never on the path to the assistant's reply."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy import select

from avatar.db import ConversationTurn, ProsodyScore, Transcription
from avatar.domain import ErrorCode
from avatar.events import PROSODY_ANALYSIS
from avatar.jobs import ProsodyJob
from avatar.storage import StorageKeyNotFound
from workers.context import StageContext
from workers.prosody.analysis import ProsodyReport, analyze_wav
from workers.prosody.quality import QualityLimits, refused

log = logging.getLogger(__name__)

BASELINE_SIZE = 20  # the speaker's latest scored utterances that form their own reference


def speaker_baseline(db: Any, transcription: Transcription) -> list[dict[str, float]]:
    """Praat features of the same session's earlier utterances that passed the gate."""
    turn = transcription.turn
    rows = db.scalars(
        select(ProsodyScore.features)
        .join(Transcription, ProsodyScore.transcription_id == Transcription.transcription_id)
        .join(ConversationTurn, Transcription.turn_id == ConversationTurn.turn_id)
        .where(
            ConversationTurn.session_id == turn.session_id,
            ConversationTurn.turn_number < turn.turn_number,
            ProsodyScore.confidence.is_not(None),
        )
        .order_by(ConversationTurn.turn_number.desc())
        .limit(BASELINE_SIZE)
    ).all()
    return [features["praat"] for features in rows if features.get("praat")]


def event_payload(job: ProsodyJob, report: ProsodyReport) -> dict[str, Any]:
    return {
        "transcription_id": job.transcription_id,
        "turn_id": job.turn_id,
        "status": report.status,
        "mode": report.mode,
        "scores": report.scores,
        "quality": report.quality.as_dict(),
        "explanation": report.explanation,
        "interval": report.interval,
        "relative": report.relative,
        "learned": report.learned,
        "latency_ms": round((time.time() - job.speech_ended_at) * 1000.0, 1),
    }


def run_prosody(ctx: StageContext, job: ProsodyJob) -> dict[str, Any]:
    services = ctx.services
    transcription_id = uuid.UUID(job.transcription_id)
    try:
        audio = services.storage.get(job.audio_key)
    except StorageKeyNotFound:
        audio = None
    with services.db() as db:
        transcription = db.get(Transcription, transcription_id)
        baseline = speaker_baseline(db, transcription) if transcription is not None else []
    if audio is None:
        report = ProsodyReport(quality=refused("missing_audio"))
    else:
        report = analyze_wav(
            audio, job.transcript, baseline=baseline, limits=QualityLimits.from_settings(ctx.settings),
            emotion=ctx.engines.emotion(),
        )

    stored = transcription is not None
    if stored:
        scores = report.scores or {}
        with services.db() as db:
            row = db.scalar(select(ProsodyScore).where(ProsodyScore.transcription_id == transcription_id))
            if row is None:  # a redelivered job updates the row it wrote before
                row = ProsodyScore(transcription_id=transcription_id)
                db.add(row)
            row.confidence = scores.get("confidence")
            row.stability = scores.get("stability")
            row.affability = scores.get("affability")
            row.features = report.features()
    else:
        log.warning("transcription %s not found: prosody reported but not stored", transcription_id)
    services.emitter.emit(PROSODY_ANALYSIS, event_payload(job, report), job.session_id)
    return {
        "transcription_id": job.transcription_id, "status": report.status, "stored": stored,
        "scores": report.scores, "analysis_ms": round(report.analysis_ms, 1),
    }


def prosody_failed(ctx: StageContext, job: ProsodyJob, code: ErrorCode, message: str, *, fix: str = "") -> None:
    """The analysis itself broke (not the audio: bad audio is a normal report)."""
    extra: dict[str, Any] = {"event": PROSODY_ANALYSIS, "transcription_id": job.transcription_id}
    if fix:
        extra["fix"] = fix
    ctx.services.emitter.error(job.session_id, code, message, job.trace_id, turn_id=job.turn_id, **extra)
