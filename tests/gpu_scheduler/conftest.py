"""The real Redis for the scheduler's tests: database 9, each test under its own keys."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("AVATAR_TEST_REDIS", "redis://127.0.0.1:6379") + "/9"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        c.ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say so loudly
        pytest.fail(f"these tests need the local Redis at {REDIS_URL}: {exc}")
    yield c
    c.close()
