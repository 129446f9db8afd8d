"""The one speech service on real workers, real Redis and real SQLite: every HQ job obeys
the single HQ slot (a voice preview included), and a session's style hint reaches the HQ
engine of a live reply.

No GPU here. The slot test's HQ engine is the deterministic benchmark engine made slow
(``AVATAR_BENCH_TTS_MS``), so a turn's HQ rendering holds the slot long enough to ask for a
preview meanwhile. The style test's HQ engine is ``lite_hq``, whose speaking rate follows
the style (``STYLE_RATE``): the effect is measured in the stored audio.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DBSession

from avatar.db import SynthesizedAudio
from tests.conftest import make_system
from tests.system import EventClient, System, wait_until
from tests.voices import espeak_reference
from workers.engines.tts.lite import STYLE_RATE

REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度。很適合出門走走。"
HQ_SENTENCE_MS = 800  # the benchmark HQ engine's time per sentence: the rendering takes ~2.4 s
STYLE = "sad"


@pytest.fixture
def slow_hq_system(tmp_path: Path, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path, "hq_preview", tiny_models_dir, AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="espeak", AVATAR_TTS_HQ_ENGINE="benchmark", AVATAR_BENCH_TTS_MS=str(HQ_SENTENCE_MS),
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast")
        system.start_worker("tts_hq", concurrency=2)  # two processes: only the slot keeps them apart
        system.start_worker("prosody")  # finishes the voice upload's analysis
        system.wait_for_lanes("llm", "tts_fast", "tts_hq", "prosody", timeout=180)
        yield system
    finally:
        system.stop_all()


@pytest.fixture
def style_system(tmp_path: Path, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path, "hq_style", tiny_models_dir, AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="espeak", AVATAR_TTS_HQ_ENGINE="lite_hq",
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_hq")
        system.wait_for_lanes("llm", "tts_hq")
        yield system
    finally:
        system.stop_all()


def _ready_voice(system: System, tmp: Path) -> str:
    """An uploaded voice, once its analysis has made it ready."""
    data = espeak_reference(tmp / "ref.wav", variant="f3", pitch=70).read_bytes()
    response = httpx.post(f"{system.base_url}/api/v1/voice-profiles", files={"file": ("ref.wav", data)},
                          data={"name": "預覽聲音"}, headers=system.auth, timeout=120)
    assert response.status_code in (201, 202), response.text
    profile_id = response.json()["profile_id"]
    wait_until(lambda: httpx.get(f"{system.base_url}/api/v1/voice-profiles/{profile_id}", headers=system.auth, timeout=10)
               .json().get("status", "ready") == "ready", 120, "the voice analysis")
    return profile_id


def _turn_latency(system: System, session_id: str) -> dict[str, Any]:
    (turn,) = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()
    return turn["latency"]


def test_a_voice_preview_waits_for_the_slot_while_an_hq_turn_render_holds_it(
    slow_hq_system: System, tmp_path: Path,
) -> None:
    system = slow_hq_system
    voice = _ready_voice(system, tmp_path)
    redis_client = system.redis()

    async def run() -> tuple[EventClient, str, float]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("set_tts_mode", {"mode": "both"}, timeout=10)
        assert ack["ok"], ack
        sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
        assert sent["ok"], sent
        deadline = time.monotonic() + 60
        while not redis_client.exists("avatar:lock:tts_hq"):  # the turn's HQ rendering took the slot
            assert time.monotonic() < deadline, "the HQ rendering never took the slot"
            await asyncio.sleep(0.02)
        requested_at = time.time()
        preview = await asyncio.to_thread(
            httpx.post, f"{system.base_url}/api/v1/voice-profiles/{voice}/preview", headers=system.auth, timeout=120)
        assert preview.status_code == 200, preview.text
        await client.wait_for(lambda: client.named("hq_audio_ready"), 60, "the HQ rendering")
        await client.wait_for(lambda: client.named("turn_audio_complete"), 60, "the fast audio")
        await client.disconnect()
        return client, session["session_id"], requested_at

    client, session_id, requested_at = asyncio.run(run())
    assert not [e for e in client.named("error") if e["code"] == "HQ_UNAVAILABLE"]

    def settled() -> dict[str, Any] | None:
        tiers = httpx.get(f"{system.base_url}/api/v1/voice-profiles/{voice}/preview", headers=system.auth, timeout=10).json()["tiers"]
        return tiers if all(t["status"] != "pending" for t in tiers.values()) else None

    tiers = wait_until(settled, 60, "the previews")
    hq = tiers["hq"]
    assert hq["status"] == "ready" and hq["engine"] == "benchmark", hq
    assert httpx.get(hq["url"], timeout=10).status_code == 200
    assert hq["done_at"] - hq["started_at"] >= HQ_SENTENCE_MS / 1000.0 * 0.9
    latency = _turn_latency(system, session_id)
    render = (latency["hq_started_at"], latency["hq_done_at"])
    assert requested_at < render[1], f"the preview was asked for while the render ran: {requested_at} {render}"
    assert hq["started_at"] >= render[1], f"the preview overlapped the HQ rendering: {hq} vs {render}"
    assert tiers["fast"]["status"] == "ready", "the fast tier never waits for the HQ slot"
    health = httpx.get(f"{system.base_url}/api/v1/health", timeout=10).json()
    assert health["scheduler"]["hq_slot"] is None, "the slot is released after the jobs"


def _hq_durations(system: System, turn_id: str) -> tuple[list[float], set[str]]:
    engine = create_engine(f"sqlite:///{system.data_dir / 'avatar.db'}")
    with DBSession(engine) as db:
        rows = db.scalars(select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id))
                          .order_by(SynthesizedAudio.seq)).all()
        out = ([r.duration_sec for r in rows if r.mode == "hq"], {f"{r.mode}:{r.engine}" for r in rows})
    engine.dispose()
    return out


def test_a_live_replys_style_hint_reaches_the_hq_engine(style_system: System) -> None:
    system = style_system

    async def turn(style: str | None) -> tuple[EventClient, str]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        choice = {"mode": "hq", **({"style": style} if style else {})}
        ack = await client.sio.call("set_tts_mode", choice, timeout=10)
        assert ack["ok"] and ack["mode"] == "hq", ack
        sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
        assert sent["ok"], sent
        await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the HQ turn")
        await client.disconnect()
        return client, sent["turn_id"]

    async def both() -> list[tuple[EventClient, str]]:
        return list(await asyncio.gather(turn(None), turn(STYLE)))

    (plain_client, plain_turn), (styled_client, styled_turn) = asyncio.run(both())
    for client, style in ((plain_client, None), (styled_client, STYLE)):
        chunks = client.named("audio_chunk")
        assert chunks and not client.named("error")
        assert {(c["mode"], c["engine"]) for c in chunks} == {("hq", "lite_hq")}
        assert {c.get("style") for c in chunks} == {style}
    plain, plain_rows = _hq_durations(system, plain_turn)
    styled, styled_rows = _hq_durations(system, styled_turn)
    assert plain_rows == styled_rows == {"hq:lite_hq"} and len(plain) == len(styled) >= 2
    # Same words, same engine: only the style differs. ``sad`` speaks at 0.88 of the rate.
    expected = 1.0 / STYLE_RATE[STYLE]
    ratio = sum(styled) / sum(plain)
    assert abs(ratio - expected) < 0.06, f"styled/plain duration {ratio:.3f}, the style's rate predicts {expected:.3f}"
    assert all(s > p for s, p in zip(styled, plain, strict=True)), (styled, plain)
