"""sessions.owner_id: whose session it is (owner credentials, api/security.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Nullable and indexed (``GET /api/v1/sessions`` lists one owner's sessions). Sessions made
before this revision keep NULL: they belong to no owner, so only the operator sees them.
Voice profiles already have their owner column, ``voice_profiles.user_id`` (0001).

Adding a nullable column is a plain ``ALTER TABLE ... ADD COLUMN`` on SQLite too, online and
offline (``--sql``). The downgrade drops it with ``ALTER TABLE ... DROP COLUMN`` (SQLite
3.35+), after its index, which SQLite requires.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("owner_id", sa.Uuid(), nullable=True))
    op.create_index("idx_sessions_owner_id", "sessions", ["owner_id"])


def downgrade() -> None:
    op.drop_index("idx_sessions_owner_id", table_name="sessions")
    op.drop_column("sessions", "owner_id")
