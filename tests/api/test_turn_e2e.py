"""A whole typed turn over a real websocket: API + Celery workers + Redis + a database +
storage, on the ``tiny`` profile (a tiny randomly initialised Qwen2 model, real espeak-ng
speech). Every test runs on both stacks: SQLite + local files, PostgreSQL + S3."""

from __future__ import annotations

import asyncio
import io
import uuid

import httpx
import pytest
import soundfile as sf
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.db import ConversationTurn, SynthesizedAudio
from tests.conftest import STACKS
from tests.system import EventClient, System

pytestmark = pytest.mark.parametrize("tiny_system", STACKS, indirect=True)


async def _one_turn(system: System, text: str) -> tuple[dict, EventClient]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    try:
        ack = await client.sio.call("user_message", {"text": text}, timeout=15)
        assert ack["ok"], ack
        turn_id = ack["turn_id"]
        await client.wait_for(
            lambda: [e for e in client.named("turn_audio_complete") if e["turn_id"] == turn_id],
            180, "all audio of the turn",
        )
    finally:
        await client.disconnect()
    return {"session": session, "turn_id": turn_id}, client


def test_typed_turn_streams_tokens_and_ordered_audio_and_persists_everything(tiny_system: System) -> None:
    info, client = asyncio.run(_one_turn(tiny_system, "你好，請用兩句話介紹台北的天氣。"))
    turn_id = info["turn_id"]

    tokens = [e["token"] for e in client.named("llm_token") if e["turn_id"] == turn_id]
    assert tokens, "no streamed tokens"
    (complete,) = [e for e in client.named("turn_complete") if e["turn_id"] == turn_id]
    assert "".join(tokens).strip() == complete["text"]
    assert complete["chunks"] >= 1

    chunks = [e for e in client.named("audio_chunk") if e["turn_id"] == turn_id]
    assert [c["seq"] for c in chunks] == list(range(complete["chunks"])), "audio out of order or missing"
    for chunk in chunks:
        audio = chunk["audio"]
        assert isinstance(audio, bytes), "audio must travel as a binary attachment"
        assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
        samples, sr = sf.read(io.BytesIO(audio))
        assert sr > 0 and len(samples) > 0
        assert abs(len(samples) / sr * 1000 - chunk["duration_ms"]) < 5
        assert chunk["mode"] == "fast"
    assert not client.named("error")

    # The tokens arrive before the turn completes, and the first audio before the last token
    # is not required (tiny replies are short), but every audio chunk follows its sentence.
    names = [name for _, name, _ in client.events]
    assert names.index("llm_token") < names.index("turn_complete")

    # REST view of the same turn.
    base = tiny_system.base_url
    turns = httpx.get(f"{base}/api/v1/sessions/{info['session']['session_id']}/turns",
                      headers=tiny_system.auth, timeout=10).json()
    (turn,) = turns
    assert turn["turn_id"] == turn_id and turn["status"] == "completed"
    assert turn["ai_response"] == complete["text"]
    assert {"first_token_ms", "first_audio_ms", "text_done_ms"} <= set(turn["latency"])
    assert [a["seq"] for a in turn["audio"]] == list(range(complete["chunks"]))
    for audio_row, chunk in zip(turn["audio"], chunks):
        played = httpx.get(audio_row["url"], timeout=10)
        assert played.status_code == 200
        assert played.content == chunk["audio"], "stored audio differs from what was streamed"

    # Database rows and files in storage, read directly (the stack's own database and store).
    engine = tiny_system.db_engine()
    storage = tiny_system.storage()
    with DBSession(engine) as db:
        row = db.get(ConversationTurn, uuid.UUID(turn_id))
        assert row is not None and row.status == "completed" and row.user_input.startswith("你好")
        audios = db.scalars(select(SynthesizedAudio).where(SynthesizedAudio.turn_id == row.turn_id)).all()
        assert len(audios) == complete["chunks"]
        for audio, chunk in zip(sorted(audios, key=lambda a: a.seq), chunks):
            assert audio.audio_url.startswith("synthesized/fast/")
            assert storage.get(audio.audio_url) == chunk["audio"]
    engine.dispose()
    assert engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[tiny_system.stack]
    assert storage.name == {"sqlite": "local", "postgres": "minio"}[tiny_system.stack]


def test_second_turn_sees_history_and_numbers_turns(tiny_system: System) -> None:
    async def scenario() -> list[dict]:
        session = tiny_system.new_session()
        client = EventClient(tiny_system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        for text in ("第一句話。", "第二句話。"):
            ack = await client.sio.call("user_message", {"text": text}, timeout=15)
            assert ack["ok"], ack
            await client.wait_for(
                lambda: [e for e in client.named("turn_audio_complete") if e["turn_id"] == ack["turn_id"]],
                180, "turn audio",
            )
        await client.disconnect()
        return httpx.get(
            f"{tiny_system.base_url}/api/v1/sessions/{session['session_id']}/turns",
            headers=tiny_system.auth, timeout=10,
        ).json()

    turns = asyncio.run(scenario())
    assert [t["turn_number"] for t in turns] == [1, 2]
    assert all(t["status"] == "completed" for t in turns)
