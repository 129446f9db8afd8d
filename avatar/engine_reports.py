"""Which engine each stage runs and whether it can run, as the workers that run it see it.

A lane's worker checks its engines when it starts (``tasks/warm_up.py``: availability only,
no model load) and writes the verdict here; ``/api/v1/health`` reads it. The API never
constructs an engine itself: only a worker knows whether its weights, binaries and packages
are there.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import redis

from avatar.settings import Settings

KEY = "avatar:engines"
STAGES = ("llm", "tts_fast", "tts_hq", "asr")  # each is also the lane that runs it


def configured_engine(stage: str, settings: Settings) -> str:
    return str(getattr(settings, f"{stage}_engine"))


def report_engine(client: redis.Redis, stage: str, engine: str, availability: dict[str, Any]) -> None:
    entry = {"engine": engine, **availability, "reported_at": time.time(), "host": socket.gethostname()}
    client.hset(KEY, stage, json.dumps(entry, ensure_ascii=False))


def engine_reports(client: redis.Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    """Per stage: the workers' last verdict on the configured engine, or ``available: None``
    while no worker of that lane has started with it."""
    raw = client.hgetall(KEY)
    reports: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        engine = configured_engine(stage, settings)
        entry = json.loads(raw[stage.encode()]) if stage.encode() in raw else None
        if entry is None or entry.get("engine") != engine:
            reports[stage] = {"engine": engine, "available": None, "reported": False,
                              "reason": f"no {stage} worker has started with this engine yet",
                              "fix": f"avatar worker --lane {stage}"}
        else:
            reports[stage] = {**entry, "reported": True}
    return reports
