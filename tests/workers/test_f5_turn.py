"""A typed turn spoken by F5-TTS on real processes: the API, the ``llm`` lane (the benchmark
engine: a fixed reply, so the sentences are known), the ``prosody`` lane (it analyses the voice
upload) and a ``tts_fast`` Celery worker started from the ``f5`` engine environment's python
with the ``f5`` engine on CPU and the tiny random F5-TTS. Real Redis, SQLite, Socket.IO.

Out of GPU memory inside F5's call: there is no GPU here, so the worker carries
``tests/engine_probes/cuda_oom/sitecustomize.py``, which makes F5's DiT raise torch's real
``torch.cuda.OutOfMemoryError`` as many times as the test asks; the rest is the real path
(free the idle models, retry once, then the CPU fallback engine).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from avatar.db.models import ConversationTurn, SynthesizedAudio
from models.tiny_f5 import F5_FOLDER, VOCOS_FOLDER, make_tiny_f5
from tests.conftest import make_system
from tests.system import EventClient, System
from tests.voices import REFERENCE_TEXT, espeak_reference

pytestmark = pytest.mark.slow
OOM_HOOK = Path(__file__).resolve().parents[1] / "engine_probes" / "cuda_oom"
REPLY = "好的，我來說明。今天台北天氣晴朗，很適合出門走走。"


@pytest.fixture(scope="module")
def f5_system(engine_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    python = engine_env("f5")
    models_dir = tmp_path_factory.mktemp("f5-turn-models")
    oom_file = models_dir / "cuda-oom-count"  # the tests' knob: see OOM_HOOK
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
        system.start_worker("tts_fast", python=python,
                            env={"PYTHONPATH": str(OOM_HOOK), "AVATAR_TEST_OOM_FILE": str(oom_file)})
        system.wait_for_lanes("llm", "prosody", "tts_fast", timeout=240)
        system.oom_file = oom_file  # type: ignore[attr-defined]
        yield system
    finally:
        system.stop_all()


@pytest.fixture
def out_of_memory(f5_system: System) -> Iterator[Path]:
    """The count of F5 calls that run out of GPU memory (0 when the test ends)."""
    path: Path = f5_system.oom_file  # type: ignore[attr-defined]
    try:
        yield path
    finally:
        path.write_text("0")


def _voice(system: System, tmp: Path) -> str:
    ref = espeak_reference(tmp / "ref.wav", variant="f2", pitch=60)
    return system.upload_voice(ref, name="F5 測試", transcript=REFERENCE_TEXT)

async def _fast_turn(system: System, voice_id: str, *, until_complete: bool = False) -> tuple[EventClient, str]:
    """``until_complete``: wait for the turn's audio to complete even past ``error`` events
    (a sentence spoken by the fallback engine is announced with one)."""
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    ack = await client.sio.call("set_tts_mode", {"mode": "fast", "voice_profile_id": voice_id}, timeout=10)
    assert ack["ok"], ack
    sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
    assert sent["ok"], sent
    await client.wait_for(
        lambda: client.named("turn_audio_complete") or (client.named("error") and not until_complete), 240,
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
    rows = _stored(f5_system, turn_id)
    assert len(rows) == len(chunks) >= 2, rows
    assert {r.engine for r in rows} == {"f5"} and {r.mode for r in rows} == {"fast"}
    assert all(r.duration_sec > 0.3 for r in rows) and {str(r.voice_profile_id) for r in rows} == {voice_id}


def _stored(system: System, turn_id: str) -> list[Any]:
    engine = system.db_engine()
    try:
        with engine.connect() as db:
            return list(db.execute(
                sa.select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id))).all())
    finally:
        engine.dispose()


def _retries_logged(system: System) -> int:
    return len(re.findall(r"out of GPU memory in fast synthesis \(CUDA out of memory", system.log("worker-tts_fast")))


def test_out_of_memory_in_an_f5_call_frees_the_model_and_retries(
    f5_system: System, out_of_memory: Path, tmp_path: Path,
) -> None:
    voice_id = _voice(f5_system, tmp_path)
    retries_before = _retries_logged(f5_system)
    out_of_memory.write_text("1")
    client, turn_id = asyncio.run(_fast_turn(f5_system, voice_id))
    assert out_of_memory.read_text() == "0", "F5's DiT never ran out of memory: the hook did not fire"
    assert not client.named("error"), client.named("error")  # the retry succeeded: nothing to tell
    chunks = client.named("audio_chunk")
    assert chunks and {c["engine"] for c in chunks} == {"f5"}
    assert {r.engine for r in _stored(f5_system, turn_id)} == {"f5"}
    log = f5_system.log("worker-tts_fast")
    assert _retries_logged(f5_system) == retries_before + 1
    # the failed call's model was evicted from the VRAM budget, then loaded again for the retry
    assert "freed idle models after running out of GPU memory: ['f5-tts']" in log, log[-3000:]


def test_f5_still_out_of_memory_after_the_retry_speaks_with_the_cpu_fallback(
    f5_system: System, out_of_memory: Path, tmp_path: Path,
) -> None:
    voice_id = _voice(f5_system, tmp_path)
    out_of_memory.write_text("always")
    client, turn_id = asyncio.run(_fast_turn(f5_system, voice_id, until_complete=True))
    chunks = client.named("audio_chunk")
    assert chunks and {c["engine"] for c in chunks} == {"espeak"}, chunks
    errors = client.named("error")
    assert {e["code"] for e in errors} == {"VRAM_EXHAUSTED"}, errors
    assert sorted(e["seq"] for e in errors) == sorted(c["seq"] for c in chunks)  # one notice per sentence
    assert all("顯存不足" in e["message"] for e in errors)
    rows = _stored(f5_system, turn_id)
    assert len(rows) == len(chunks) and {r.engine for r in rows} == {"espeak"}, rows
    assert all(r.duration_sec > 0.3 for r in rows)
    engine = f5_system.db_engine()
    try:
        with engine.connect() as db:
            turn = db.execute(sa.select(ConversationTurn).where(ConversationTurn.turn_id == uuid.UUID(turn_id))).one()
    finally:
        engine.dispose()
    assert (turn.status, turn.error_code) == ("completed", None), turn  # every sentence was spoken
