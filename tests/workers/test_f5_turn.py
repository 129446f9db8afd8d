"""A typed turn spoken by F5-TTS on real processes: the API, the ``llm`` lane (the benchmark
engine: a fixed reply, so the sentences are known), the ``prosody`` lane (it analyses the voice
upload) and a ``tts_fast`` Celery worker started from the ``f5`` engine environment's python
with the ``f5`` engine on CPU and the tiny random F5-TTS. Real Redis, SQLite, Socket.IO.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from avatar.db.models import SynthesizedAudio
from models.tiny_f5 import F5_FOLDER, VOCOS_FOLDER, make_tiny_f5
from tests.conftest import make_system
from tests.system import EventClient, System
from tests.voices import REFERENCE_TEXT, espeak_reference

pytestmark = pytest.mark.slow
REPLY = "好的，我來說明。今天台北天氣晴朗，很適合出門走走。"


@pytest.fixture(scope="module")
def f5_system(engine_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    python = engine_env("f5")
    models_dir = tmp_path_factory.mktemp("f5-turn-models")
    f5 = make_tiny_f5(models_dir / "tiny" / F5_FOLDER, python=python)
    system = make_system(
        tmp_path_factory.mktemp("f5-turn"), "f5_turn", models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="f5", AVATAR_TTS_DEVICE="cpu", AVATAR_F5_NFE_STEPS="4",
        AVATAR_F5_CKPT_FILE=str(f5 / "model.safetensors"), AVATAR_F5_VOCAB_FILE=str(f5 / "vocab.txt"),
        AVATAR_F5_VOCODER_DIR=str(models_dir / "tiny" / VOCOS_FOLDER),
        # Generous limits: on two shared cores the first F5 job imports f5_tts (tens of
        # seconds) and the voice analysis (with its lite fit) can pass a minute.
        AVATAR_PROSODY_SOFT_TIME_LIMIT_S="240", AVATAR_PROSODY_TIME_LIMIT_S="300",
        AVATAR_TTS_SOFT_TIME_LIMIT_S="240", AVATAR_TTS_TIME_LIMIT_S="300",
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("prosody")
        system.start_worker("tts_fast", python=python)
        system.wait_for_lanes("llm", "prosody", "tts_fast", timeout=240)
        yield system
    finally:
        system.stop_all()


def _voice(system: System, tmp: Path) -> str:
    ref = espeak_reference(tmp / "ref.wav", variant="f2", pitch=60)
    return system.upload_voice(ref, name="F5 測試", transcript=REFERENCE_TEXT)

async def _fast_turn(system: System, voice_id: str) -> tuple[EventClient, str]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    ack = await client.sio.call("set_tts_mode", {"mode": "fast", "voice_profile_id": voice_id}, timeout=10)
    assert ack["ok"], ack
    sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
    assert sent["ok"], sent
    await client.wait_for(lambda: client.named("turn_audio_complete") or client.named("error"), 240,
                          "the turn's audio")
    await client.disconnect()
    return client, sent["turn_id"]


def test_a_typed_turn_is_spoken_by_f5_from_its_engine_env(f5_system: System, tmp_path: Path) -> None:
    health = httpx.get(f"{f5_system.base_url}/api/v1/health", timeout=10).json()
    assert health["engines"]["tts_fast"]["reported"], health["engines"]["tts_fast"]
    voice_id = _voice(f5_system, tmp_path)
    client, turn_id = asyncio.run(_fast_turn(f5_system, voice_id))
    assert not client.named("error"), client.named("error")
    chunks = client.named("audio_chunk")
    assert chunks and {c["engine"] for c in chunks} == {"f5"} and {c["mode"] for c in chunks} == {"fast"}
    engine = f5_system.db_engine()
    try:
        with engine.connect() as db:
            rows = db.execute(sa.select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id))).all()
    finally:
        engine.dispose()
    assert len(rows) == len(chunks) >= 2, rows
    assert {r.engine for r in rows} == {"f5"} and {r.mode for r in rows} == {"fast"}
    assert all(r.duration_sec > 0.3 for r in rows) and {str(r.voice_profile_id) for r in rows} == {voice_id}
