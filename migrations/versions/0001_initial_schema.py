"""Initial schema: the seven tables of avatar.db.models.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand to match ``avatar/db/models.py`` exactly (table, constraint and index
names included); tests/migrations checks that with ``alembic.autogenerate.compare_metadata``.

No server-side defaults: every default in the models is applied by the ORM in Python.
Primary and foreign keys are left unnamed, as in the models, so the schema is the one
``Base.metadata.create_all`` makes: PostgreSQL names them ``<table>_pkey`` and
``<table>_<column>_fkey``; SQLite keeps them anonymous.

``voice_profiles.embedding`` is ``VECTOR(256)`` on a PostgreSQL that offers the pgvector
extension (it is created here), JSON everywhere else - the same rule as
``avatar.db.types.Embedding``. The choice is made when the upgrade runs: online by asking
``pg_available_extensions``; in offline mode (``--sql``) the table is created with JSON and
a ``DO`` block converts the column when the script is later run on a server that has it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMBEDDING_DIM = 256

# Offline (--sql) PostgreSQL scripts cannot ask the server in advance, so they decide when run.
_PG_OPTIONAL_PGVECTOR = f"""\
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        ALTER TABLE voice_profiles
            ALTER COLUMN embedding TYPE vector({EMBEDDING_DIM}) USING embedding::text::vector;
    END IF;
END
$$"""


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _embedding_type() -> sa.types.TypeEngine:
    """VECTOR(256) when PostgreSQL offers pgvector (creating the extension), else JSON."""
    context = op.get_context()
    if context.dialect.name != "postgresql" or context.as_sql:
        return sa.JSON()  # offline PostgreSQL scripts convert it later (_PG_OPTIONAL_PGVECTOR)
    available = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if not available:
        return sa.JSON()
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    from pgvector.sqlalchemy import VECTOR

    return VECTOR(EMBEDDING_DIM)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        _timestamp("start_time"),
        _timestamp("end_time", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("session_id"),
        sa.CheckConstraint("status IN ('active', 'ended', 'error')", name="ck_sessions_status"),
    )
    op.create_index("idx_sessions_start_time", "sessions", ["start_time"])

    op.create_table(
        "conversation_turns",
        sa.Column("turn_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("turn_number", sa.Integer(), nullable=False),
        sa.Column("user_input", sa.Text(), nullable=False),
        sa.Column("ai_response", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.Uuid(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("completed_at", nullable=True),
        sa.PrimaryKeyConstraint("turn_id"),
        sa.UniqueConstraint("session_id", "turn_number", name="uq_turns_session_number"),
        sa.CheckConstraint(
            "status IN ('pending', 'generating', 'speaking', 'completed', 'error', 'interrupted')",
            name="ck_turns_status",
        ),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.session_id"], ondelete="CASCADE"),
    )
    op.create_index("idx_turns_session_id", "conversation_turns", ["session_id"])

    op.create_table(
        "transcriptions",
        sa.Column("transcription_id", sa.Uuid(), nullable=False),
        sa.Column("turn_id", sa.Uuid(), nullable=False),
        sa.Column("final_text", sa.Text(), nullable=False),
        sa.Column("partial_results", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("audio_url", sa.Text(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("transcription_id"),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name="ck_transcriptions_confidence"
        ),
        sa.ForeignKeyConstraint(["turn_id"], ["conversation_turns.turn_id"], ondelete="CASCADE"),
    )
    # One transcription per turn, one score per transcription (one-to-one in the ORM).
    op.create_index("idx_transcriptions_turn_id", "transcriptions", ["turn_id"], unique=True)

    op.create_table(
        "prosody_scores",
        sa.Column("score_id", sa.Uuid(), nullable=False),
        sa.Column("transcription_id", sa.Uuid(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("stability", sa.Float(), nullable=False),
        sa.Column("affability", sa.Float(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        _timestamp("analyzed_at"),
        sa.PrimaryKeyConstraint("score_id"),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 100", name="ck_prosody_confidence"),
        sa.CheckConstraint("stability >= 0 AND stability <= 100", name="ck_prosody_stability"),
        sa.CheckConstraint("affability >= 0 AND affability <= 100", name="ck_prosody_affability"),
        sa.ForeignKeyConstraint(
            ["transcription_id"], ["transcriptions.transcription_id"], ondelete="CASCADE"
        ),
    )
    op.create_index(
        "idx_prosody_transcription_id", "prosody_scores", ["transcription_id"], unique=True
    )

    op.create_table(
        "voice_profiles",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("audio_url", sa.Text(), nullable=False),
        sa.Column("embedding", _embedding_type(), nullable=True),
        sa.Column("duration_sec", sa.Float(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    op.create_index("idx_voice_profiles_user_id", "voice_profiles", ["user_id"])
    if op.get_context().as_sql and op.get_context().dialect.name == "postgresql":
        op.execute(_PG_OPTIONAL_PGVECTOR)

    op.create_table(
        "synthesized_audios",
        sa.Column("audio_id", sa.Uuid(), nullable=False),
        sa.Column("turn_id", sa.Uuid(), nullable=False),
        sa.Column("voice_profile_id", sa.Uuid(), nullable=True),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(40), nullable=False),
        sa.Column("audio_url", sa.Text(), nullable=False),
        sa.Column("duration_sec", sa.Float(), nullable=False),
        sa.Column("synthesis_time_ms", sa.Float(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("audio_id"),
        sa.CheckConstraint("mode IN ('fast', 'hq')", name="ck_synth_mode"),
        sa.UniqueConstraint("turn_id", "mode", "seq", name="uq_synth_turn_mode_seq"),
        sa.ForeignKeyConstraint(["turn_id"], ["conversation_turns.turn_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["voice_profile_id"], ["voice_profiles.profile_id"], ondelete="SET NULL"
        ),
    )
    op.create_index("idx_synth_turn_id", "synthesized_audios", ["turn_id"])
    op.create_index("idx_synth_mode", "synthesized_audios", ["mode"])

    op.create_table(
        "system_logs",
        sa.Column("log_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.Uuid(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("log_id"),
    )
    op.create_index("idx_logs_level", "system_logs", ["level"])
    op.create_index("idx_logs_trace_id", "system_logs", ["trace_id"])
    op.create_index("idx_logs_created_at", "system_logs", ["created_at"])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes and constraints with it.
    # The pgvector extension stays: other databases objects may use it.
    for table in (
        "system_logs",
        "synthesized_audios",
        "voice_profiles",
        "prosody_scores",
        "transcriptions",
        "conversation_turns",
        "sessions",
    ):
        op.drop_table(table)
