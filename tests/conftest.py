"""Shared fixtures: the real Redis and PostgreSQL of this machine, and whole systems."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.system import System, free_port

REDIS_BASE = os.environ.get("AVATAR_TEST_REDIS", "redis://127.0.0.1:6379")
# Each kind of system gets its own Redis database so queues never mix between fixtures.
# Reserved for the systems of later issues: 1 web, 2 deploy, 3 prosody, 4-5 cloning, 9-10 speech.
REDIS_DB = {"web": 1, "deploy": 2, "prosody": 3, "cloning": 4, "cloning_units": 5, "hq_oom": 6, "hq": 7, "admission": 8, "speech": 9, "speech_bench": 10, "tiny": 11, "bench": 12, "faults": 13, "priorities": 14, "noweights": 15,
            # Redis has 16 databases: later systems share one with a module that never runs
            # beside theirs (each fixture flushes its database when it starts).
            "hq_preview": 7, "hq_style": 7, "voice_job": 5}


def _require_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say so loudly
        pytest.fail(f"these tests need the local Redis at {url}: {exc} (start it: see README, Testing)")


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny randomly initialised models, generated once per test run (no downloads)."""
    from models.tiny import make_tiny_models

    models_dir = tmp_path_factory.mktemp("models")
    make_tiny_models(models_dir)
    return models_dir


def make_system(
    tmp: Path, kind: str, models_dir: Path, **overrides: str
) -> System:
    redis_url = f"{REDIS_BASE}/{REDIS_DB[kind]}"
    _require_redis(redis_url)
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp / "var"
    log_dir = data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AVATAR_PROFILE": "tiny",
        "AVATAR_DATA_DIR": str(data_dir),
        "AVATAR_MODELS_DIR": str(models_dir),
        "AVATAR_REDIS_URL": redis_url,
        "AVATAR_BROKER_URL": "",
        "AVATAR_DATABASE_URL": "",
        "AVATAR_SOCKETIO_CHANNEL": f"avatar-test-{uuid.uuid4().hex[:8]}",
        "AVATAR_SECRET_KEY": uuid.uuid4().hex,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # Admission control has its own test; elsewhere many sessions come and go.
        "AVATAR_MAX_ACTIVE_SESSIONS": "200",
        **overrides,
    }
    port = free_port()
    env["AVATAR_API_PORT"] = str(port)
    system = System(data_dir=data_dir, env=env, port=port, log_dir=log_dir)
    system.run_cli("db", "upgrade")
    return system


@pytest.fixture(scope="module")
def tiny_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    """API + one worker per backbone lane on the ``tiny`` profile (SQLite, local storage)."""
    system = make_system(tmp_path_factory.mktemp("tiny"), "tiny", tiny_models_dir)
    try:
        system.start_api()
        for lane in ("llm", "tts_fast"):
            system.start_worker(lane, concurrency=2 if lane == "tts_fast" else 1)
        system.wait_for_lanes("llm", "tts_fast")
        yield system
    finally:
        system.stop_all()
