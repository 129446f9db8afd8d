"""One Redis client per process and URL (a connection pool must not cross a fork)."""

from __future__ import annotations

import os

import redis

from avatar.settings import get_settings

_clients: dict[tuple[int, str], redis.Redis] = {}


def get_redis(url: str | None = None) -> redis.Redis:
    url = url or get_settings().redis_url
    key = (os.getpid(), url)
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
    return _clients[key]
