"""Migration 0002: an ``insufficient_quality`` prosody row (no scores, only the reasons)
is storable on SQLite and PostgreSQL; the range checks still hold; downgrade drops it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

import avatar.db.migrate as migrate
from avatar.db.models import ConversationTurn, ProsodyScore, Session, Transcription
from tests.migrations.test_migrations import engine_for, schema_differences

REFUSED = {"status": "insufficient_quality", "quality": {"ok": False, "reasons": ["low_snr"]}}


def _transcription(db: OrmSession) -> Transcription:
    turn = ConversationTurn(session=Session(), turn_number=1, user_input="嗯")
    transcription = Transcription(turn=turn, final_text="嗯", audio_url="raw_inputs/x.wav")
    db.add(transcription)
    db.flush()
    return transcription


def test_a_refused_analysis_is_stored_without_scores(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert schema_differences(db_url) == []
    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            transcription = _transcription(db)
            db.add(ProsodyScore(transcription=transcription, features=REFUSED))
            db.commit()
            row = db.scalars(sa.select(ProsodyScore)).one()
            assert (row.confidence, row.stability, row.affability) == (None, None, None)
            assert row.features["quality"]["reasons"] == ["low_snr"]

        with OrmSession(engine) as db, pytest.raises(IntegrityError):  # the checks survived
            db.add(ProsodyScore(transcription=_transcription(db), confidence=101.0, features={}))
            db.commit()


def test_downgrade_drops_rows_without_scores(db_url: str) -> None:
    migrate.upgrade(db_url)
    with engine_for(db_url) as engine, OrmSession(engine) as db:
        db.add(ProsodyScore(transcription=_transcription(db), features=REFUSED))
        db.add(ProsodyScore(
            transcription=_transcription(db), confidence=50, stability=50, affability=50, features={}
        ))
        db.commit()

    migrate.downgrade(db_url, "0001")
    with engine_for(db_url) as engine, engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM prosody_scores")).scalar() == 1
        with pytest.raises(IntegrityError):
            conn.execute(sa.text(
                "INSERT INTO prosody_scores (score_id, transcription_id, stability, affability,"
                " features, analyzed_at) VALUES ('00000000000000000000000000000001',"
                " '00000000000000000000000000000002', 1, 1, '{}', '2026-01-01')"
            ))
    migrate.upgrade(db_url)
    assert schema_differences(db_url) == []
