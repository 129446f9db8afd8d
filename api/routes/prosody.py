"""Prosody analysis results: one utterance, and a session's summary with its trend; each
only for the owner of its session (or the operator)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CallerDep, DBDep, OwnedSessionDep, api_error
from api.schemas import UTCDateTime, error_responses
from avatar.db import ConversationTurn, ProsodyScore, Transcription

router = APIRouter(prefix="/api/v1", tags=["prosody"])

SCORE_NAMES = ("confidence", "stability", "affability")
STEADY_POINTS_PER_TURN = 1.0  # a trend flatter than this is "steady"


class Scores(BaseModel):
    confidence: float
    stability: float
    affability: float


class ProsodyOut(BaseModel):
    transcription_id: uuid.UUID
    turn_id: uuid.UUID
    turn_number: int
    transcript: str
    status: str  # "ok" or "insufficient_quality"
    mode: str  # "norms" or "speaker" (relative to the speaker's earlier utterances)
    scores: Scores | None  # null when the quality gate refused the recording
    quality: dict[str, Any]
    explanation: dict[str, list[dict[str, Any]]]
    interval: dict[str, dict[str, float]] | None  # per score: 95 % test-retest low/high
    relative: dict[str, Any] | None  # from the third utterance: change against the speaker's earlier ones
    # The optional emotion model's arousal / dominance / valence (AVATAR_PROSODY_EMOTION_ENGINE),
    # with its licence and the mapping assumption; never part of the scores. Null when off.
    learned: dict[str, Any] | None = None
    features: dict[str, Any]  # "praat": the scored features; "egemaps": all 88 functionals
    norms_version: str | None
    analyzed_at: UTCDateTime


class TurnScores(BaseModel):
    turn_number: int
    turn_id: uuid.UUID
    transcription_id: uuid.UUID
    status: str
    mode: str
    scores: Scores | None
    interval: dict[str, dict[str, float]] | None
    relative: dict[str, Any] | None
    reasons: list[str]
    analyzed_at: UTCDateTime


class Trend(BaseModel):
    mean: float | None
    first: float | None
    last: float | None
    slope_per_turn: float | None  # least-squares slope of the score over turn numbers
    direction: str  # rising, falling, steady, or unknown (fewer than two scored turns)


class SessionProsodyOut(BaseModel):
    session_id: uuid.UUID
    analyzed: int
    insufficient_quality: int
    turns: list[TurnScores]
    trend: dict[str, Trend]


def _scores(row: ProsodyScore) -> Scores | None:
    if row.confidence is None or row.stability is None or row.affability is None:
        return None
    return Scores(confidence=row.confidence, stability=row.stability, affability=row.affability)


def _status(row: ProsodyScore) -> str:
    return "ok" if _scores(row) is not None else "insufficient_quality"


@router.get("/prosody/{transcription_id}", response_model=ProsodyOut, responses=error_responses(401, 404, 422))
def get_prosody(db: DBDep, caller: CallerDep, transcription_id: uuid.UUID) -> ProsodyOut:
    transcription = db.get(Transcription, transcription_id)
    if transcription is None or not caller.owns(transcription.turn.session.owner_id):
        raise api_error(404, "TRANSCRIPTION_NOT_FOUND",
                        f"找不到此段語音（transcription {transcription_id} not found）")
    row = transcription.prosody
    if row is None:
        raise api_error(404, "PROSODY_NOT_READY",
                        f"此段語音尚未分析完成（transcription {transcription_id} has no prosody analysis yet）")
    features = row.features or {}
    return ProsodyOut(
        transcription_id=transcription_id, turn_id=transcription.turn_id,
        turn_number=transcription.turn.turn_number, transcript=transcription.final_text,
        status=_status(row), mode=features.get("mode", "norms"), scores=_scores(row),
        quality=features.get("quality", {}), explanation=features.get("explanation", {}),
        interval=features.get("interval"), relative=features.get("relative"),
        learned=features.get("learned"), features={"praat": features.get("praat", {}), "egemaps": features.get("egemaps", {})},
        norms_version=features.get("norms_version"), analyzed_at=row.analyzed_at,
    )


def _trend(points: list[tuple[int, float]]) -> Trend:
    if not points:
        return Trend(mean=None, first=None, last=None, slope_per_turn=None, direction="unknown")
    turns = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[1] for p in points], dtype=float)
    slope = float(np.polyfit(turns, values, 1)[0]) if len(points) >= 2 else None
    if slope is None:
        direction = "unknown"
    elif abs(slope) < STEADY_POINTS_PER_TURN:
        direction = "steady"
    else:
        direction = "rising" if slope > 0 else "falling"
    return Trend(
        mean=round(float(values.mean()), 1), first=float(values[0]), last=float(values[-1]),
        slope_per_turn=None if slope is None else round(slope, 2), direction=direction,
    )


@router.get("/sessions/{session_id}/prosody", response_model=SessionProsodyOut, responses=error_responses(401, 404, 422))
def session_prosody(db: DBDep, session: OwnedSessionDep) -> SessionProsodyOut:
    session_id = session.session_id
    rows = db.execute(
        select(ConversationTurn, Transcription, ProsodyScore)
        .join(Transcription, Transcription.turn_id == ConversationTurn.turn_id)
        .join(ProsodyScore, ProsodyScore.transcription_id == Transcription.transcription_id)
        .where(ConversationTurn.session_id == session_id)
        .order_by(ConversationTurn.turn_number)
    ).all()
    turns = [
        TurnScores(
            turn_number=turn.turn_number, turn_id=turn.turn_id,
            transcription_id=transcription.transcription_id, status=_status(row),
            mode=(row.features or {}).get("mode", "norms"), scores=_scores(row),
            interval=(row.features or {}).get("interval"), relative=(row.features or {}).get("relative"),
            reasons=(row.features or {}).get("quality", {}).get("reasons", []),
            analyzed_at=row.analyzed_at,
        )
        for turn, transcription, row in rows
    ]
    scored = [t for t in turns if t.scores is not None]
    return SessionProsodyOut(
        session_id=session_id, analyzed=len(turns), insufficient_quality=len(turns) - len(scored),
        turns=turns,
        trend={
            name: _trend([(t.turn_number, getattr(t.scores, name)) for t in scored])
            for name in SCORE_NAMES
        },
    )
