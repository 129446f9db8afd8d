"""prosody_scores: the three scores may be NULL (an ``insufficient_quality`` result).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

A recording that fails the prosody quality gate (noise, silence, clipping, too little
voice) still gets its row, so the turn's analysis is traceable; it has no numbers, only the
reasons, which live in ``features`` (``status``, ``quality``). NULL passes the range CHECKs.

SQLite cannot alter a column: batch mode rebuilds the table. ``copy_from`` gives it the
table's definition, so offline (``--sql``) scripts work too and the named CHECK
constraints are carried over exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCORES = ("confidence", "stability", "affability")


def _table(nullable: bool) -> sa.Table:
    return sa.Table(
        "prosody_scores",
        sa.MetaData(),
        sa.Column("score_id", sa.Uuid(), nullable=False),
        sa.Column("transcription_id", sa.Uuid(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=nullable) for name in SCORES),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("score_id"),
        *(
            sa.CheckConstraint(f"{name} >= 0 AND {name} <= 100", name=f"ck_prosody_{name}")
            for name in SCORES
        ),
        sa.ForeignKeyConstraint(
            ["transcription_id"], ["transcriptions.transcription_id"], ondelete="CASCADE"
        ),
        sa.Index("idx_prosody_transcription_id", "transcription_id", unique=True),
    )


def _set_nullable(nullable: bool) -> None:
    with op.batch_alter_table("prosody_scores", copy_from=_table(not nullable)) as batch:
        for name in SCORES:
            batch.alter_column(name, existing_type=sa.Float(), nullable=nullable)


def upgrade() -> None:
    _set_nullable(True)


def downgrade() -> None:
    # Rows without scores cannot satisfy NOT NULL again: they go (their reasons with them).
    op.execute("DELETE FROM prosody_scores WHERE confidence IS NULL")
    _set_nullable(False)
