"""A server the API needs is down: REST answers 503 with a code and Retry-After, never a 500.

The real application (``create_app``) over a real Redis client and a real database driver,
each pointed at a port where nothing listens: what the API meets while Redis or PostgreSQL
restarts (the faults bench found ``POST /resynthesis`` answering 500 there).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from avatar.db.migrate import upgrade
from avatar.settings import Settings
from tests.system import free_port


def _client(tmp_path: Path, **overrides: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, storage_dir=tmp_path / "storage",
                        secret_key="dependency-down-test-secret-0123456789", **overrides)
    if not overrides.get("database_url"):
        upgrade(settings.resolved_database_url)
    with TestClient(create_app(settings)) as client:
        owner = client.post("/api/v1/owners").json()
        client.headers["Authorization"] = f"Bearer {owner['owner_token']}"
        yield client


@pytest.fixture
def redis_down(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")


@pytest.fixture
def database_down(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, database_url=f"postgresql+psycopg://avatar:x@127.0.0.1:{free_port()}/avatar")


def _unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["detail"]["code"] == code
    assert response.json()["detail"]["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_resynthesis_while_redis_is_down_is_refused_with_a_code(redis_down: TestClient) -> None:
    started = redis_down.post("/api/v1/resynthesis", json={"since": datetime.now(UTC).isoformat()})
    _unavailable(started, "QUEUE_UNAVAILABLE")
    _unavailable(redis_down.get("/api/v1/resynthesis/0123456789abcdef"), "QUEUE_UNAVAILABLE")


def test_listing_voices_while_the_database_is_down_is_refused_with_a_code(database_down: TestClient) -> None:
    _unavailable(database_down.get("/api/v1/voice-profiles"), "DATABASE_UNAVAILABLE")
