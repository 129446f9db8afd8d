"""The real Redis for the scheduler's tests: database 9, each test under its own keys."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("AVATAR_TEST_REDIS", "redis://127.0.0.1:6379") + "/9"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    yield from connect(REDIS_URL)


def connect(url: str) -> Iterator[redis.Redis]:
    """A client of the real Redis at ``url``; fails the test loudly if it is not there."""
    c = redis.Redis.from_url(url, socket_timeout=5)
    try:
        c.ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say so loudly
        pytest.fail(f"these tests need the local Redis at {url}: {exc}")
    yield c
    c.close()
