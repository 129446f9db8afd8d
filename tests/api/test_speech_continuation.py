"""A pause mid-message, end to end over real sockets: a python-socketio client streams two
espeak-ng Mandarin utterances 0.7 s apart (the VAD ends an utterance after 0.5 s of silence)
to the real API, the real ``asr`` worker (faster-whisper on a tiny random model) and the reply
lanes. The second utterance must continue the first one's turn (one reply to the whole
message), not be refused ``TURN_IN_PROGRESS`` and lost.

The ``llm`` lane's worker starts only once both transcripts are in, as when the lane is busy
with other sessions: the first turn is then certainly still open, unanswered, when the second
utterance's transcript arrives, whatever the machine's load does to the timing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_system
from tests.speech_audio import espeak_16k, stream_realtime, with_silences
from tests.system import EventClient, System

pytestmark = pytest.mark.slow


@pytest.fixture
def system_without_llm(tmp_path: Path, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(tmp_path, "speech", tiny_models_dir, AVATAR_LLM_ENGINE="benchmark",
                         AVATAR_PARTIAL_INTERVAL_MS="300")
    try:
        system.start_api()
        system.start_worker("tts_fast", concurrency=1)
        system.start_worker("asr")
        system.start_worker("prosody", concurrency=1)
        system.wait_for_lanes("tts_fast", "asr", "prosody")
        yield system
    finally:
        system.stop_all()


def db_rows(system: System, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(system.data_dir / "avatar.db") as db:
        return db.execute(sql, args).fetchall()


def test_a_pause_mid_message_continues_the_turn_instead_of_losing_it(system_without_llm: System) -> None:
    system = system_without_llm
    phrase = espeak_16k("今天天氣很好，我們去公園散步吧")
    speech = with_silences([phrase, phrase], [0.7, 1.0], lead_s=0.3).pcm

    async def scenario() -> tuple[EventClient, str]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        await stream_realtime(client.sio.emit, speech)
        finals = await client.wait_for(lambda: len(client.named("transcription_final")) >= 2
                                       and client.named("transcription_final"), 90, "both transcripts")
        merged = next(f for f in finals if f["continues_turn_id"])
        system.start_worker("llm")  # the lane frees up: the stopped turn's reply job is skipped
        await client.wait_for(lambda: [e for e in client.named("turn_audio_complete")
                                       if e["turn_id"] == merged["turn_id"]], 90, "the reply")
        await client.disconnect()
        return client, session["session_id"]

    client, session_id = asyncio.run(scenario())
    assert [e["state"] for e in client.named("vad_state")] == ["speech_start", "speech_end"] * 2
    assert not client.named("error"), client.named("error")
    first_utterance = client.named("vad_state")[0]["utterance_id"]
    earlier, later = sorted(client.named("transcription_final"), key=lambda f: f["utterance_id"] != first_utterance)
    merged, stopped = (later, earlier) if later["continues_turn_id"] else (earlier, later)
    assert merged["continues_turn_id"] == stopped["turn_id"] != merged["turn_id"]
    assert merged["turn_text"] in (earlier["text"] + later["text"], f"{earlier['text']}，{later['text']}")
    # Stopped as continued (after a barge-in, when the turn had started while the second
    # utterance was still being spoken).
    reasons = [e["reason"] for e in client.named("interrupt") if e["turn_id"] == stopped["turn_id"]]
    assert reasons in (["continued"], ["barge_in", "continued"]), reasons

    rows = db_rows(system, "SELECT turn_id, user_input, status, json_extract(latency, '$.continued_by'), "
                   "ai_response FROM conversation_turns WHERE session_id = ? ORDER BY turn_number",
                   session_id.replace("-", ""))
    assert [(r[2], r[3]) for r in rows] == [("interrupted", merged["turn_id"]), ("completed", None)]
    assert rows[0][4] == "" and rows[1][1] == merged["turn_text"] and rows[1][4]
    # Each utterance keeps its own transcription row (and WAV), on the turn it started.
    transcribed = db_rows(system, "SELECT final_text FROM transcriptions ORDER BY final_text")
    assert sorted(t for (t,) in transcribed) == sorted([earlier["text"], later["text"]])
    assert not [e for e in client.named("llm_token") if e["turn_id"] == stopped["turn_id"]]
