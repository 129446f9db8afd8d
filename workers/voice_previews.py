"""Previews of a voice in each tier: one job per tier on its own lane (the API process
never loads a speech model); the state lives in a Redis hash the API polls."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from avatar.domain import TTSMode
from avatar.redis import get_redis
from avatar.settings import Settings
from avatar.storage import get_storage
from avatar.storage.keys import voice_profile_key
from workers.engines.registry import get_tts_engine
from workers.voice_profiles import load_voice_reference, wav_bytes

TIERS = (TTSMode.FAST, TTSMode.HQ)
STATE_TTL_S = 24 * 3600


def _key(profile_id: str) -> str:
    return f"avatar:voice_preview:{profile_id}"


def _set(settings: Settings, profile_id: str, mode: str, state: dict[str, Any]) -> None:
    client = get_redis(settings.redis_url)
    client.hset(_key(profile_id), mode, json.dumps(state))
    client.expire(_key(profile_id), STATE_TTL_S)


def request_previews(profile_id: str, text: str, style: str | None, settings: Settings) -> None:
    from tasks.voices import enqueue_preview

    for mode in TIERS:
        _set(settings, profile_id, mode.value, {"status": "pending", "requested_at": time.time()})
        enqueue_preview(profile_id, mode, text, style)


def preview_state(profile_id: str, settings: Settings) -> dict[str, dict[str, Any]]:
    raw = get_redis(settings.redis_url).hgetall(_key(profile_id))
    storage = get_storage(settings)
    out: dict[str, dict[str, Any]] = {}
    for mode, value in raw.items():
        state = json.loads(value)
        if state.get("key"):
            state["url"] = storage.url(state.pop("key"))
        out[mode.decode() if isinstance(mode, bytes) else mode] = state
    return out


def run_preview(profile_id: str, mode: TTSMode, text: str, style: str | None, settings: Settings) -> dict[str, Any]:
    from workers.cloning import speak

    voice = load_voice_reference(profile_id, settings)
    if voice is None:
        return {"skipped": "voice deleted"}
    engine = get_tts_engine(mode, settings)
    try:
        started = time.perf_counter()
        clip = speak(engine, text, voice, style)
        elapsed = (time.perf_counter() - started) * 1000.0
    except Exception as exc:  # the preview says why; the worker goes on
        _set(settings, profile_id, mode.value, {"status": "failed", "engine": engine.name, "reason": str(exc)})
        return {"failed": str(exc)}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    key = voice_profile_key(profile_id, f"preview_{mode.value}_{stamp}.wav")
    get_storage(settings).put(key, wav_bytes(clip.samples, clip.sample_rate))
    state = {
        "status": "ready", "engine": engine.name, "key": key,
        "duration_ms": round(clip.duration_s * 1000.0, 1), "synthesis_ms": round(elapsed, 1),
    }
    _set(settings, profile_id, mode.value, state)
    return state
