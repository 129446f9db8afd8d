"""Deleting a voice that sessions are speaking with, end to end on real processes (the API,
Celery workers for ``llm``, ``tts_fast`` (``lite``), ``tts_hq`` (``lite_hq``) and ``prosody``
(the upload's analysis), real Redis), on SQLite + local files and on PostgreSQL + S3.

The session is told (``error {code: VOICE_DELETED}``) and falls back to the default voice;
the turn in flight when the voice goes finishes, fast and HQ, without a foreign-key failure;
the next turn speaks with the default voice; past renderings keep their rows and files with
``voice_profile_id`` set NULL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.db import ConversationTurn, SynthesizedAudio
from tests.conftest import STACKS, make_system
from tests.system import EventClient, System
from tests.voices import espeak_reference

REPLY = "好的，我來說明。今天台北天氣晴朗，氣溫大約25度。很適合出門走走。"


@pytest.fixture(scope="module", params=STACKS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("voice-deletion"), "cloning", tiny_models_dir, stack=request.param,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="lite", AVATAR_TTS_HQ_ENGINE="lite_hq",
    )
    try:
        system.start_api()
        for lane in ("llm", "tts_fast", "tts_hq", "prosody"):
            system.start_worker(lane)
        system.wait_for_lanes("llm", "tts_fast", "tts_hq", "prosody", timeout=180)
        yield system
    finally:
        system.stop_all()


def _ready_voice(system: System, tmp: Path) -> str:
    ref = espeak_reference(tmp / "ref.wav", variant="f3", pitch=70)
    return system.upload_voice(ref, name="將被刪除的聲音", timeout=120)

def _voices_of(system: System, turn_id: str) -> dict[tuple[str, int], str | None]:
    """(mode, seq) -> the stored voice_profile_id of each of the turn's sentences."""
    engine = system.db_engine()
    try:
        with DBSession(engine) as db:
            rows = db.scalars(select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id)))
            return {(r.mode, r.seq): r.voice_profile_id and str(r.voice_profile_id) for r in rows}
    finally:
        engine.dispose()


async def _turn_done(client: EventClient, turn_id: str) -> None:
    """Until the turn's fast audio is complete and its HQ rendering is ready (or refused)."""
    def of_turn(event: str) -> list[Any]:
        return [e for e in client.named(event) if isinstance(e, dict) and e.get("turn_id") == turn_id]

    await client.wait_for(lambda: of_turn("turn_audio_complete"), 180, f"the fast audio of {turn_id}")
    await client.wait_for(lambda: of_turn("hq_audio_ready") or [
        e for e in of_turn("error") if e.get("code") == "HQ_UNAVAILABLE"], 240, f"the HQ rendering of {turn_id}")


def test_deleting_a_voice_in_use_falls_back_to_the_default_voice(system: System, tmp_path: Path) -> None:
    voice_id = _ready_voice(system, tmp_path)
    session = system.new_session()
    client = EventClient(system.base_url)

    async def scenario() -> list[str]:
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("set_tts_mode", {"mode": "both", "voice_profile_id": voice_id}, timeout=10)
        assert ack["ok"], ack
        turns = []
        first = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
        assert first["ok"], first
        await _turn_done(client, first["turn_id"])
        turns.append(first["turn_id"])
        spoken_with = await asyncio.to_thread(_voices_of, system, first["turn_id"])
        assert spoken_with and set(spoken_with.values()) == {voice_id}, spoken_with

        # The voice goes while the second turn is being written and spoken.
        second = await client.sio.call("user_message", {"text": "再說一次"}, timeout=10)
        assert second["ok"], second
        deleted = await asyncio.to_thread(
            httpx.delete, f"{system.base_url}/api/v1/voice-profiles/{voice_id}", headers=system.auth, timeout=30)
        assert deleted.status_code == 204, deleted.text
        await client.wait_for(lambda: [e for e in client.named("error") if e["code"] == "VOICE_DELETED"],
                              30, "the VOICE_DELETED notice")
        await _turn_done(client, second["turn_id"])
        turns.append(second["turn_id"])

        third = await client.sio.call("user_message", {"text": "最後一個問題"}, timeout=10)
        assert third["ok"], third
        await _turn_done(client, third["turn_id"])
        turns.append(third["turn_id"])
        await client.disconnect()
        return turns

    first, second, third = asyncio.run(scenario())

    (notice,) = [e for e in client.named("error") if e["code"] == "VOICE_DELETED"]
    assert notice["voice_profile_id"] == voice_id and notice["message"] and notice["trace_id"]
    others = [e for e in client.named("error") if e["code"] != "VOICE_DELETED"]
    assert others == [], f"no sentence may fail: {others}"
    assert len(client.named("hq_audio_ready")) == 3

    # The session no longer points at the voice, and keeps its mode.
    meta = httpx.get(f"{system.base_url}/api/v1/sessions/{session['session_id']}", headers=system.auth,
                     timeout=10).json()["metadata"]
    assert meta["voice_profile_id"] is None and meta["tts_mode"] == "both"

    engine = system.db_engine()
    storage = system.storage()
    try:
        with DBSession(engine) as db:
            turns = db.scalars(select(ConversationTurn).where(
                ConversationTurn.session_id == uuid.UUID(session["session_id"]))).all()
            statuses = {str(t.turn_id): t.status for t in turns}
            rows = db.scalars(select(SynthesizedAudio).where(
                SynthesizedAudio.turn_id.in_([t.turn_id for t in turns]))).all()
    finally:
        engine.dispose()
    assert statuses == {first: "completed", second: "completed", third: "completed"}
    by_turn = {turn: [r for r in rows if str(r.turn_id) == turn] for turn in (first, second, third)}
    for turn, audios in by_turn.items():
        assert {a.mode for a in audios} == {"fast", "hq"}, (turn, [(a.mode, a.seq) for a in audios])
    # Past renderings stay, files included; none points at the deleted profile any more
    # (the first turn's did until the deletion: ON DELETE SET NULL).
    assert all(r.voice_profile_id is None for r in rows)
    assert all(storage.exists(r.audio_url) for r in by_turn[first])
    for name, proc_log in (("worker-tts_fast", system.log("worker-tts_fast")),
                           ("worker-tts_hq", system.log("worker-tts_hq"))):
        assert "FOREIGN KEY" not in proc_log and "ForeignKeyViolation" not in proc_log, name
