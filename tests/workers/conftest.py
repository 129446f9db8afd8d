"""Fixtures for the worker tests: a tiny local chat model (built once per run), and the settings
of a stage run in-process."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from avatar.db.migrate import upgrade
from avatar.settings import Settings
from tests.conftest import REDIS_BASE, REDIS_DB


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 chat model (ChatML template, zh-TW BPE) on disk; no downloads."""
    from models.tiny import make_tiny_llm

    return make_tiny_llm(tmp_path_factory.mktemp("tiny-llm") / "llm")


@pytest.fixture
def stage_settings(tmp_path: Path) -> Settings:
    """A stage run in-process, as its worker would: this test's own SQLite database (migrated
    to head) and local storage under ``tmp_path``, real Redis (the prosody tests' database
    number; nothing there consumes the queues) and a Socket.IO channel of its own."""
    settings = Settings(
        data_dir=tmp_path, redis_url=f"{REDIS_BASE}/{REDIS_DB['prosody']}",
        socketio_channel=f"avatar-test-{uuid.uuid4().hex[:8]}", secret_key=uuid.uuid4().hex,
    )
    upgrade(settings.resolved_database_url)
    return settings
