"""Voice previews' state: one entry per tier in the Redis hash
``avatar:voice_preview:{profile_id}``, which the API writes when it asks for previews and
polls, and the preview stage (``workers/voice_previews.py``) writes when it is done.

A tier's state is ``pending`` (``requested_at``), ``ready`` (``engine``, the stored file,
``duration_ms``, ``synthesis_ms``, ``started_at``/``done_at``) or ``failed`` (``reason``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from avatar.domain import TTSMode
from avatar.jobs import PreviewJob
from avatar.services import Services

TIERS = (TTSMode.FAST, TTSMode.HQ)
STATE_TTL_S = 24 * 3600


def preview_key(profile_id: str) -> str:
    return f"avatar:voice_preview:{profile_id}"


def set_preview_state(services: Services, profile_id: str, mode: TTSMode | str, state: dict[str, Any]) -> None:
    """One tier's state; a ``key`` (storage key of the preview WAV) is served as a signed ``url``."""
    pipe = services.redis.pipeline()
    pipe.hset(preview_key(profile_id), TTSMode(mode).value, json.dumps(state))
    pipe.expire(preview_key(profile_id), STATE_TTL_S)
    pipe.execute()


def request_previews(services: Services, profile_id: str, text: str, style: str | None) -> None:
    """Speak ``text`` with this voice in each tier, each on its own lane."""
    for mode in TIERS:
        set_preview_state(services, profile_id, mode, {"status": "pending", "requested_at": time.time()})
        services.dispatcher.preview(PreviewJob(profile_id=profile_id, mode=mode, text=text, style=style))


def preview_state(services: Services, profile_id: str) -> dict[str, dict[str, Any]]:
    """Each tier's state, by mode."""
    out: dict[str, dict[str, Any]] = {}
    for mode, value in services.redis.hgetall(preview_key(profile_id)).items():
        state = json.loads(value)
        if state.get("key"):
            state["url"] = services.storage.url(state.pop("key"))
        out[mode.decode() if isinstance(mode, bytes) else mode] = state
    return out


def forget_previews(services: Services, profile_id: str) -> None:
    """The voice is deleted (its files go with its storage prefix)."""
    services.redis.delete(preview_key(profile_id))
