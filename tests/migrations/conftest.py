"""Fixtures for the migration tests: real, empty databases (no mocks).

PostgreSQL: a fresh, uniquely named database per test on the server named by
``AVATAR_TEST_POSTGRES_URL`` (default: the local server's ``test`` database, used only to
run CREATE/DROP DATABASE), dropped afterwards. SQLite: a file in the test's tmp_path, in a
folder that does not exist yet (the migration helpers must create it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "AVATAR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _libpq_url(url: str) -> str:
    """psycopg wants a libpq URL: no ``+driver`` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_unreachable: list[str] = []  # remembered, so an absent server costs one timeout, not one a test


def _admin_connection() -> psycopg.Connection:
    if not _unreachable:
        try:
            return psycopg.connect(_libpq_url(PG_ADMIN_URL), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            _unreachable.append(" ".join(str(exc).split()))
    where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
    pytest.skip(
        f"PostgreSQL is unreachable at {where} ({_unreachable[0]}); these tests need a real "
        "server (set AVATAR_TEST_POSTGRES_URL to one where CREATE DATABASE is allowed)"
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"avatar_migtest_{uuid.uuid4().hex[:16]}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            # FORCE: a connection a failed test leaked must not leave the database behind.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a SQLite file that does not exist yet, in a folder that does not exist yet."""
    return f"sqlite:///{(tmp_path / 'var' / 'avatar.db').as_posix()}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Each test using this runs on an empty SQLite file and an empty PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(fixture)
