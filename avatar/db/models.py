"""SQLAlchemy 2 models for the seed's tables (architecture document, section 2.3.2).

Audio columns (``audio_url``) hold *storage keys*; playback URLs are signed on demand
because they expire.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, synonym

from avatar.db.types import Embedding

EMBEDDING_DIM = 256


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Session(Base):
    __tablename__ = "sessions"

    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    end_time: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="active")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Whose it is (api/security.py: an owner id, no user system); NULL: the operator's or the
    # CLI's, and every session made before ownership existed (migration 0003).
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    turns: Mapped[list[ConversationTurn]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ConversationTurn.turn_number",
    )

    __table_args__ = (
        CheckConstraint("status IN ('active', 'ended', 'error')", name="ck_sessions_status"),
        Index("idx_sessions_start_time", "start_time"),
        Index("idx_sessions_owner_id", "owner_id"),
    )


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"

    turn_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.session_id", ondelete="CASCADE")
    )
    turn_number: Mapped[int] = mapped_column(Integer)
    user_input: Mapped[str] = mapped_column(Text)
    # Empty until the reply is saved whole (never half-written).
    ai_response: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4)
    # Timings in ms relative to the moment the message was accepted:
    # first_token_ms, first_audio_ms, text_done_ms, audio_done_ms; plus chunks (count).
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    session: Mapped[Session] = relationship(back_populates="turns")
    audios: Mapped[list[SynthesizedAudio]] = relationship(
        back_populates="turn", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SynthesizedAudio.seq",
    )
    transcription: Mapped[Transcription | None] = relationship(
        back_populates="turn", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("session_id", "turn_number", name="uq_turns_session_number"),
        CheckConstraint(
            "status IN ('pending', 'generating', 'speaking', 'completed', 'error', 'interrupted')",
            name="ck_turns_status",
        ),
        Index("idx_turns_session_id", "session_id"),
    )


class Transcription(Base):
    __tablename__ = "transcriptions"

    transcription_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    turn_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation_turns.turn_id", ondelete="CASCADE")
    )
    final_text: Mapped[str] = mapped_column(Text)
    partial_results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    confidence: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    audio_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    turn: Mapped[ConversationTurn] = relationship(back_populates="transcription")
    prosody: Mapped[ProsodyScore | None] = relationship(
        back_populates="transcription", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="ck_transcriptions_confidence"),
        Index("idx_transcriptions_turn_id", "turn_id", unique=True),  # one per turn
    )


class ProsodyScore(Base):
    __tablename__ = "prosody_scores"

    score_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    transcription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("transcriptions.transcription_id", ondelete="CASCADE")
    )
    # NULL when the recording failed the quality gate: ``features["status"]`` is then
    # ``insufficient_quality`` and ``features["quality"]`` says why (migration 0002).
    confidence: Mapped[float | None] = mapped_column(Float)
    stability: Mapped[float | None] = mapped_column(Float)
    affability: Mapped[float | None] = mapped_column(Float)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    analyzed_at: Mapped[datetime] = mapped_column(default=utcnow)

    transcription: Mapped[Transcription] = relationship(back_populates="prosody")

    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 100", name="ck_prosody_confidence"),
        CheckConstraint("stability >= 0 AND stability <= 100", name="ck_prosody_stability"),
        CheckConstraint("affability >= 0 AND affability <= 100", name="ck_prosody_affability"),
        Index("idx_prosody_transcription_id", "transcription_id", unique=True),
    )


class VoiceProfile(Base):
    __tablename__ = "voice_profiles"

    profile_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The owner, as ``sessions.owner_id`` (the seed named the column for a user system it
    # never had); NULL: the operator's or the CLI's. Code says ``owner_id``.
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID | None] = synonym("user_id")
    name: Mapped[str] = mapped_column(String(255))
    audio_url: Mapped[str] = mapped_column(Text)
    embedding: Mapped[list[float] | None] = mapped_column(Embedding(EMBEDDING_DIM))
    duration_sec: Mapped[float] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("idx_voice_profiles_user_id", "user_id"),)


class SynthesizedAudio(Base):
    __tablename__ = "synthesized_audios"

    audio_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    turn_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation_turns.turn_id", ondelete="CASCADE")
    )
    voice_profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_profiles.profile_id", ondelete="SET NULL")
    )
    mode: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    engine: Mapped[str] = mapped_column(String(40), default="")
    audio_url: Mapped[str] = mapped_column(Text)
    duration_sec: Mapped[float] = mapped_column(Float)
    synthesis_time_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    turn: Mapped[ConversationTurn] = relationship(back_populates="audios")

    __table_args__ = (
        CheckConstraint("mode IN ('fast', 'hq')", name="ck_synth_mode"),
        UniqueConstraint("turn_id", "mode", "seq", name="uq_synth_turn_mode_seq"),
        Index("idx_synth_turn_id", "turn_id"),
        Index("idx_synth_mode", "mode"),
    )


class SystemLog(Base):
    __tablename__ = "system_logs"

    log_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    trace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("idx_logs_level", "level"),
        Index("idx_logs_trace_id", "trace_id"),
        Index("idx_logs_created_at", "created_at"),
    )
