"""The HQ lane on real workers: a session in ``hq`` mode is spoken through the single HQ
slot; a CUDA out-of-memory error degrades each sentence to the fast engine, tells the
session ``VRAM_EXHAUSTED`` and leaves the worker alive.

There is no GPU here: the HQ engine is the deterministic benchmark engine, and for the OOM
case it raises torch's real ``torch.cuda.OutOfMemoryError`` type (AVATAR_BENCH_TTS_FAIL=oom).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DBSession

from avatar.db import SynthesizedAudio
from tests.conftest import make_system
from tests.system import EventClient, System

REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度。"


def _system(tmp: Path, kind: str, models_dir: Path, **env: str) -> System:
    # The fast tier is espeak-ng (real): the injected fault targets the HQ engine only.
    system = make_system(
        tmp, kind, models_dir, AVATAR_LLM_ENGINE="benchmark", AVATAR_TTS_FAST_ENGINE="espeak",
        AVATAR_TTS_HQ_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY, **env,
    )
    system.start_api()
    system.start_worker("llm")
    system.start_worker("tts_fast")
    system.start_worker("tts_hq", concurrency=2)  # two processes, still one HQ job at a time
    system.wait_for_lanes("llm", "tts_fast", "tts_hq")
    return system


@pytest.fixture(scope="module")
def hq_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = _system(tmp_path_factory.mktemp("hq"), "hq", tiny_models_dir)
    try:
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def oom_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = _system(tmp_path_factory.mktemp("oom"), "hq_oom", tiny_models_dir, AVATAR_BENCH_TTS_FAIL="oom")
    try:
        yield system
    finally:
        system.stop_all()


async def _hq_turns(system: System, sessions: int) -> list[tuple[EventClient, str]]:
    async def one() -> tuple[EventClient, str]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("set_tts_mode", {"mode": "hq"}, timeout=10)
        assert ack == {"ok": True, "mode": "hq", "voice_profile_id": None}
        sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
        assert sent["ok"], sent
        await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the HQ turn")
        await client.disconnect()
        return client, sent["turn_id"]

    return list(await asyncio.gather(*(one() for _ in range(sessions))))


def test_hq_sessions_share_the_single_slot_and_get_hq_audio(hq_system: System) -> None:
    results = asyncio.run(_hq_turns(hq_system, 2))
    for client, _turn_id in results:
        chunks = client.named("audio_chunk")
        (complete,) = client.named("turn_complete")
        assert [c["seq"] for c in chunks] == list(range(complete["chunks"]))
        assert {c["mode"] for c in chunks} == {"hq"} and not client.named("error")
    health = httpx.get(f"{hq_system.base_url}/api/v1/health", timeout=10).json()
    assert health["scheduler"]["hq_slot"] is None, "the slot is released after the jobs"
    assert health["scheduler"]["hq_breaker"]["state"] == "closed"
    engine = create_engine(f"sqlite:///{hq_system.data_dir / 'avatar.db'}")
    with DBSession(engine) as db:
        keys = db.scalars(select(SynthesizedAudio.audio_url).where(
            SynthesizedAudio.turn_id == uuid.UUID(results[0][1]))).all()
        assert keys and all(key.startswith("synthesized/hq/") for key in keys)
    engine.dispose()


def test_cuda_oom_degrades_to_fast_and_the_worker_survives(oom_system: System) -> None:
    ((client, turn_id),) = asyncio.run(_hq_turns(oom_system, 1))
    (complete,) = client.named("turn_complete")
    chunks = client.named("audio_chunk")
    assert [c["seq"] for c in chunks] == list(range(complete["chunks"])), "order kept across the degrade"
    assert {c["mode"] for c in chunks} == {"fast"}
    errors = client.named("error")
    assert errors and {e["code"] for e in errors} == {"VRAM_EXHAUSTED"}
    assert errors[0]["message"] == "顯存不足，已降級至快速模式"
    turns = httpx.get(
        f"{oom_system.base_url}/api/v1/sessions/{_session_of(oom_system, turn_id)}/turns", timeout=10
    ).json()
    assert turns[0]["status"] == "completed"
    assert {a["mode"] for a in turns[0]["audio"]} == {"fast"}
    health = httpx.get(f"{oom_system.base_url}/api/v1/health", timeout=10).json()
    assert health["lanes"]["tts_hq"]["workers"], "the HQ worker survived"
    assert health["scheduler"]["hq_breaker"]["state"] == "closed", "OOM is not an engine fault"


def _session_of(system: System, turn_id: str) -> str:
    from avatar.db import ConversationTurn

    engine = create_engine(f"sqlite:///{system.data_dir / 'avatar.db'}")
    with DBSession(engine) as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        assert turn is not None
        session_id = str(turn.session_id)
    engine.dispose()
    return session_id
