"""The Alembic migrations build exactly the schema of avatar.db.models, on an empty
SQLite file and an empty PostgreSQL database (real databases, no mocks)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pgvector.sqlalchemy  # noqa: F401  (lets reflection recognise a ``vector`` column)
import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

import avatar.db.migrate as migrate
from avatar.db.engine import make_engine
from avatar.db.models import (
    EMBEDDING_DIM,
    Base,
    ConversationTurn,
    ProsodyScore,
    Session,
    SynthesizedAudio,
    SystemLog,
    Transcription,
    VoiceProfile,
)

APP_TABLES = set(Base.metadata.tables)
# Exactly representable as float32 too, so they survive pgvector's VECTOR unchanged.
EMBEDDING = [i / 256 - 0.5 for i in range(EMBEDDING_DIM)]


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head


def table_names(url: str) -> set[str]:
    with engine_for(url) as engine:
        return set(sa.inspect(engine).get_table_names())


def schema_differences(url: str) -> list:
    """What autogenerate would change to make the database match the models."""
    with engine_for(url) as engine, engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)


def add_full_conversation(db: OrmSession) -> dict[str, uuid.UUID]:
    """One row in every table, linked together; returns their primary keys."""
    session = Session(meta={"client": "test"})
    turn = ConversationTurn(session=session, turn_number=1, user_input="今天天氣如何？")
    transcription = Transcription(
        turn=turn, final_text="今天天氣如何", partial_results={"partials": ["今天"]},
        confidence=0.93, latency_ms=120.5, audio_url="asr/in.wav",
    )
    prosody = ProsodyScore(
        transcription=transcription, confidence=80, stability=70.5, affability=65,
        features={"pitch_mean_hz": 180.0},
    )
    profile = VoiceProfile(
        name="預設聲音", audio_url="voices/ref.wav", embedding=EMBEDDING, duration_sec=6.5,
        meta={"lang": "zh-TW"},
    )
    db.add_all([session, profile])
    db.flush()
    audio = SynthesizedAudio(
        turn=turn, voice_profile_id=profile.profile_id, mode="fast", seq=0, text="晴天",
        engine="espeak", audio_url="tts/0.wav", duration_sec=1.2, synthesis_time_ms=35.0,
    )
    log = SystemLog(level="INFO", message="turn completed", trace_id=turn.trace_id,
                    meta={"turn_id": str(turn.turn_id)})
    db.add_all([audio, log])
    db.commit()
    return {
        "session": session.session_id, "turn": turn.turn_id,
        "transcription": transcription.transcription_id, "prosody": prosody.score_id,
        "profile": profile.profile_id, "audio": audio.audio_id, "log": log.log_id,
    }


def count(engine: Engine, model: type[Base]) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


# --- upgrade from empty ------------------------------------------------------------------


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    assert migrate.current(db_url) is None

    migrate.upgrade(db_url)

    assert migrate.current(db_url) == head_revision()
    assert table_names(db_url) == APP_TABLES | {"alembic_version"}


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)

    # Columns and their types, nullability, server defaults, indexes, unique constraints
    # and foreign keys. No exception for the embedding column is needed: Embedding compiles
    # to JSON, or to VECTOR(256) when make_engine found pgvector, just like the migration.
    assert schema_differences(db_url) == []


def test_named_constraints_and_indexes_match_the_models(db_url: str) -> None:
    """compare_metadata skips CHECK constraints and ON DELETE rules: compare those here."""
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        inspector = sa.inspect(engine)
        for table in Base.metadata.sorted_tables:
            expected_checks = {
                c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)
            }
            expected_uniques = {
                c.name for c in table.constraints if isinstance(c, sa.UniqueConstraint)
            }
            expected_fks = {
                (fk.parent.name, fk.column.table.name, fk.column.name, fk.ondelete)
                for fk in table.foreign_keys
            }
            found_fks = {
                (fk["constrained_columns"][0], fk["referred_table"], fk["referred_columns"][0],
                 (fk["options"].get("ondelete") or "").upper() or None)
                for fk in inspector.get_foreign_keys(table.name)
            }
            assert {c["name"] for c in inspector.get_check_constraints(table.name)} == (
                expected_checks
            ), table.name
            assert {c["name"] for c in inspector.get_unique_constraints(table.name)} == (
                expected_uniques
            ), table.name
            # PostgreSQL also lists each unique constraint's own index; leave those out.
            found_indexes = {
                i["name"] for i in inspector.get_indexes(table.name)
                if not i.get("duplicates_constraint")
            }
            assert found_indexes == {i.name for i in table.indexes}, table.name
            assert found_fks == expected_fks, table.name


def test_upgrade_is_idempotent(db_url: str) -> None:
    migrate.upgrade(db_url)
    with engine_for(db_url) as engine, OrmSession(engine) as db:
        ids = add_full_conversation(db)

    migrate.upgrade(db_url)  # already at head: nothing to do, nothing lost
    migrate.upgrade(db_url, "head")

    assert migrate.current(db_url) == head_revision()
    assert schema_differences(db_url) == []
    with engine_for(db_url) as engine, OrmSession(engine) as db:
        assert db.get(Session, ids["session"]) is not None


# --- the ORM on the migrated schema ------------------------------------------------------


def test_one_row_in_every_table_round_trips(db_url: str) -> None:
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            ids = add_full_conversation(db)
        for model in Base.registry.mappers:
            assert count(engine, model.class_) == 1, model.class_.__name__

        with OrmSession(engine) as db:
            session = db.get(Session, ids["session"])
            assert session is not None
            assert session.status == "active"
            assert session.meta == {"client": "test"}
            assert isinstance(session.start_time, datetime)

            [turn] = session.turns
            assert turn.turn_id == ids["turn"]
            assert turn.user_input == "今天天氣如何？"
            assert turn.ai_response == "" and turn.status == "pending"
            assert turn.latency == {}
            assert isinstance(turn.trace_id, uuid.UUID)

            transcription = turn.transcription
            assert transcription is not None
            assert transcription.partial_results == {"partials": ["今天"]}
            assert transcription.confidence == pytest.approx(0.93)

            prosody = transcription.prosody
            assert prosody is not None
            assert (prosody.confidence, prosody.stability, prosody.affability) == (80, 70.5, 65)
            assert prosody.features == {"pitch_mean_hz": 180.0}

            profile = db.get(VoiceProfile, ids["profile"])
            assert profile is not None
            assert profile.embedding == EMBEDDING
            assert len(profile.embedding) == EMBEDDING_DIM
            assert profile.meta == {"lang": "zh-TW"}

            [audio] = turn.audios
            assert audio.voice_profile_id == ids["profile"]
            assert (audio.mode, audio.seq, audio.engine) == ("fast", 0, "espeak")

            log = db.get(SystemLog, ids["log"])
            assert log is not None
            assert log.trace_id == turn.trace_id
            assert log.meta == {"turn_id": str(turn.turn_id)}


def test_embedding_column_type(db_url: str) -> None:
    """VECTOR(256) where PostgreSQL offers pgvector, JSON everywhere else."""
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine, engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            [column] = [c for c in sa.inspect(conn).get_columns("voice_profiles")
                        if c["name"] == "embedding"]
            assert isinstance(column["type"], sa.JSON)
            return
        available = conn.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first() is not None
        udt_name = conn.execute(sa.text(
            "SELECT udt_name FROM information_schema.columns "
            "WHERE table_name = 'voice_profiles' AND column_name = 'embedding'"
        )).scalar_one()
        typmod = conn.execute(sa.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'voice_profiles'::regclass AND attname = 'embedding'"
        )).scalar_one()
        assert engine.dialect.avatar_has_pgvector is available
        if available:
            assert (udt_name, typmod) == ("vector", f"vector({EMBEDDING_DIM})")
        else:
            assert udt_name == "json"


# --- constraints -------------------------------------------------------------------------


def test_constraints_are_enforced(db_url: str) -> None:
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            ids = add_full_conversation(db)

        def rejected(*rows: Base) -> None:
            with OrmSession(engine) as db:
                db.add_all(rows)
                with pytest.raises(IntegrityError):
                    db.commit()

        rejected(ProsodyScore(transcription_id=ids["transcription"], confidence=150,
                              stability=50, affability=50))
        rejected(Transcription(turn_id=ids["turn"], final_text="x", audio_url="a",
                               confidence=1.5))
        rejected(ConversationTurn(session_id=ids["session"], turn_number=1, user_input="dup"))
        rejected(ConversationTurn(session_id=ids["session"], turn_number=2, user_input="x",
                                  status="bogus"))
        rejected(Session(status="paused"))
        rejected(SynthesizedAudio(turn_id=ids["turn"], mode="slow", audio_url="a",
                                  duration_sec=1, synthesis_time_ms=1))
        rejected(SynthesizedAudio(turn_id=ids["turn"], mode="fast", seq=0, audio_url="a",
                                  duration_sec=1, synthesis_time_ms=1))
        rejected(ConversationTurn(session_id=uuid.uuid4(), turn_number=1, user_input="orphan"))

        with OrmSession(engine) as db:  # the next turn number and the hq tier are fine
            db.add(ConversationTurn(session_id=ids["session"], turn_number=2, user_input="ok"))
            db.add(SynthesizedAudio(turn_id=ids["turn"], mode="hq", seq=0, audio_url="a",
                                    duration_sec=1, synthesis_time_ms=1))
            db.commit()
        assert count(engine, ConversationTurn) == 2


def test_deleting_a_profile_keeps_its_audio(db_url: str) -> None:
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            ids = add_full_conversation(db)
        with engine.begin() as conn:
            conn.execute(sa.delete(VoiceProfile).where(VoiceProfile.profile_id == ids["profile"]))
        with OrmSession(engine) as db:
            audio = db.get(SynthesizedAudio, ids["audio"])
            assert audio is not None and audio.voice_profile_id is None  # ON DELETE SET NULL


def test_deleting_a_session_cascades_in_the_database(db_url: str) -> None:
    """Plain SQL, no ORM cascade: the foreign keys alone remove the whole conversation."""
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            ids = add_full_conversation(db)
            other = Session()
            db.add(ConversationTurn(session=other, turn_number=1, user_input="kept"))
            db.commit()

        with engine.begin() as conn:
            conn.execute(sa.delete(Session).where(Session.session_id == ids["session"]))

        assert count(engine, Session) == 1
        assert count(engine, ConversationTurn) == 1  # only the other session's turn
        for model in (Transcription, ProsodyScore, SynthesizedAudio):
            assert count(engine, model) == 0, model.__name__
        assert count(engine, VoiceProfile) == 1 and count(engine, SystemLog) == 1


def test_deleting_a_session_through_the_orm(db_url: str) -> None:
    migrate.upgrade(db_url)

    with engine_for(db_url) as engine:
        with OrmSession(engine) as db:
            ids = add_full_conversation(db)
        with OrmSession(engine) as db:
            session = db.get(Session, ids["session"])
            db.delete(session)
            db.commit()
        for model in (Session, ConversationTurn, Transcription, ProsodyScore, SynthesizedAudio):
            assert count(engine, model) == 0, model.__name__


# --- downgrade ---------------------------------------------------------------------------


def test_downgrade_to_base_leaves_no_tables(db_url: str) -> None:
    migrate.upgrade(db_url)
    with engine_for(db_url) as engine, OrmSession(engine) as db:
        add_full_conversation(db)  # with data too

    migrate.downgrade(db_url, "base")

    assert migrate.current(db_url) is None
    # Alembic keeps its own (now empty) bookkeeping table.
    assert table_names(db_url) <= {"alembic_version"}

    migrate.upgrade(db_url)  # and back up again
    assert table_names(db_url) == APP_TABLES | {"alembic_version"}
    assert schema_differences(db_url) == []


# --- offline (--sql) mode ----------------------------------------------------------------


def offline_sql(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    command.upgrade(migrate.alembic_config(url), "head", sql=True)
    script = capsys.readouterr().out
    assert "CREATE TABLE sessions" in script
    return script


def test_offline_sql_builds_the_same_schema_on_sqlite(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = offline_sql(sqlite_url, capsys)
    database = Path(make_url(sqlite_url).database or "")
    assert not database.exists()  # --sql never connects

    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as conn:
        conn.executescript(script)

    assert migrate.current(sqlite_url) == head_revision()
    assert schema_differences(sqlite_url) == []


@pytest.mark.postgres
def test_offline_sql_builds_the_same_schema_on_postgresql(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = offline_sql(pg_url, capsys)
    assert "pg_available_extensions" in script  # pgvector is decided when the script runs

    libpq_url = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute(script)  # no parameters: psycopg sends it as one simple query

    assert migrate.current(pg_url) == head_revision()
    assert schema_differences(pg_url) == []


# --- avatar.db.migrate -------------------------------------------------------------------


def test_alembic_config_points_at_the_repository() -> None:
    config = migrate.alembic_config("postgresql://u:p%40ss@db:5432/avatar")
    script_location = Path(config.get_main_option("script_location") or "")
    assert script_location == Path(migrate.__file__).resolve().parents[2] / "migrations"
    assert (script_location / "env.py").is_file()
    assert config.config_file_name is not None
    assert Path(config.config_file_name).name == "alembic.ini"
    # Normalised to psycopg 3; the '%' survives ConfigParser interpolation.
    assert config.get_main_option("sqlalchemy.url") == (
        "postgresql+psycopg://u:p%40ss@db:5432/avatar"
    )
    assert migrate.alembic_config().get_main_option("sqlalchemy.url") in (None, "")


def test_current_does_not_create_a_missing_sqlite_file(sqlite_url: str) -> None:
    database = Path(make_url(sqlite_url).database or "")
    assert migrate.current(sqlite_url) is None
    assert not database.exists() and not database.parent.exists()


def test_upgrade_without_url_uses_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from avatar.settings import get_settings

    monkeypatch.setenv("AVATAR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AVATAR_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().resolved_database_url.endswith("/data/avatar.db")
        migrate.upgrade()
        assert migrate.current() == head_revision()
    finally:
        get_settings.cache_clear()

    assert (tmp_path / "data" / "avatar.db").is_file()
    assert table_names(f"sqlite:///{tmp_path / 'data' / 'avatar.db'}") >= APP_TABLES


def test_sqlite_timestamps_come_back(sqlite_url: str) -> None:
    """SQLite has no time zones: DateTime(timezone=True) values are stored as UTC-less text
    and read back naive (PostgreSQL returns them aware). Pin that behaviour down."""
    migrate.upgrade(sqlite_url)
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine_for(sqlite_url) as engine:
        with OrmSession(engine) as db:
            db.add(SystemLog(level="INFO", message="m", created_at=moment))
            db.commit()
        with OrmSession(engine) as db:
            [log] = db.scalars(sa.select(SystemLog)).all()
            assert log.created_at == moment.replace(tzinfo=None)
