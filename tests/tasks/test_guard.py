"""How a job body meets an outage of a server it needs (``tasks/guard.py``): real redis-py and
SQLAlchemy clients against real ports. The faults bench found jobs that met a Redis or
PostgreSQL restart reported as ``INTERNAL`` and never run again."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from celery import Celery
from sqlalchemy import create_engine, text

import tasks.guard as guard
from avatar.domain import ErrorCode
from tests.system import free_port


@pytest.fixture
def task() -> Any:
    """A real Celery task object (run_guarded reads its retry state only for engine errors)."""
    return Celery("guard-test").task(name="guard.test")(lambda: None)


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A port where a real redis-server starts 1.5 s from now (a restart seen from a job)."""
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        time.sleep(1.5)
        started.append(subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL))

    thread = threading.Thread(target=start)
    thread.start()
    try:
        yield port
    finally:
        thread.join()
        for server in started:
            server.terminate()
            server.wait(10)


def test_a_job_that_meets_a_redis_restart_runs_again_and_succeeds(task: Any, redis_port: int) -> None:
    # Without redis-py's own reconnect attempts, so the outage reaches the job (as it does
    # when they are used up).
    client = redis.Redis(port=redis_port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    attempts: list[float] = []
    failed: list[tuple[Any, ...]] = []

    def body() -> dict[str, Any]:
        attempts.append(time.monotonic())
        client.set("written", "after the restart")
        return {"written": True}

    result = guard.run_guarded(task, body, lambda *args, **_: failed.append(args), what="測試", backoff_cap_s=1)
    assert result == {"written": True} and not failed
    assert len(attempts) >= 2, "the first attempt met the outage"
    assert client.get("written") == b"after the restart"


def test_a_database_that_stays_down_ends_in_a_clear_error(task: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "OUTAGE_RETRY_DELAYS_S", (0.05, 0.05))  # the test need not wait 15 s
    engine = create_engine(f"postgresql+psycopg://avatar:x@127.0.0.1:{free_port()}/avatar")
    attempts: list[int] = []
    failed: list[tuple[Any, ...]] = []

    def body() -> dict[str, Any]:
        attempts.append(1)
        with engine.connect() as db:
            db.execute(text("SELECT 1"))
        return {}

    result = guard.run_guarded(task, body, lambda *args, **_: failed.append(args), what="測試", backoff_cap_s=1)
    assert result == {"failed": True} and len(attempts) == 3
    ((code, message),) = failed
    assert code == ErrorCode.DATABASE_UNAVAILABLE and "請稍後再試" in message
