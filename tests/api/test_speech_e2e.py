"""Speech input through real sockets: a python-socketio client streams espeak-ng Mandarin in
real-time-paced binary frames to the real API (Silero VAD), the real ``asr`` worker
(faster-whisper on a tiny random CTranslate2 Whisper the tests generate), and the reply lanes.

The reply comes from the deterministic benchmark LLM (a fixed four-sentence reply, written
slowly) so a barge-in reliably lands while sentences are still queued; speech is real espeak-ng.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import make_system
from tests.speech_audio import espeak_16k, stream_realtime, with_silences
from tests.system import EventClient, System

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("speech"), "speech", tiny_models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_TOKEN_DELAY_MS="150",
        AVATAR_PARTIAL_INTERVAL_MS="300", AVATAR_AUDIO_MAX_FRAMES_PER_S="60",
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast", concurrency=1)
        system.start_worker("asr")
        system.start_worker("prosody", concurrency=1)
        system.wait_for_lanes("llm", "tts_fast", "asr", "prosody")
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    return with_silences([espeak_16k("今天天氣很好，我們去公園散步吧")], [1.0], lead_s=0.3).pcm


async def connected(system: System) -> tuple[EventClient, dict[str, Any]]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    return client, session


def db_rows(system: System, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(system.data_dir / "avatar.db") as db:
        return db.execute(sql, args).fetchall()


def test_spoken_turn_end_to_end(speech_system: System, utterance: np.ndarray) -> None:
    async def scenario() -> tuple[EventClient, dict[str, Any]]:
        client, session = await connected(speech_system)
        await stream_realtime(client.sio.emit, utterance)
        final = (await client.wait_for(lambda: client.named("transcription_final"), 60, "final"))[0]
        await client.wait_for(
            lambda: [e for e in client.named("turn_audio_complete") if e["turn_id"] == final["turn_id"]],
            90, "the reply's audio",
        )
        await client.wait_for(  # the stored utterance is scored on the prosody lane
            lambda: [e for e in client.named("prosody_analysis")
                     if e["transcription_id"] == final["transcription_id"]], 60, "prosody_analysis",
        )
        await client.disconnect()
        return client, session

    client, session = asyncio.run(scenario())
    states = [e["state"] for e in client.named("vad_state")]
    assert states == ["speech_start", "speech_end"]
    partials = client.named("transcription_partial")
    assert partials and all(p["is_final"] is False and p["text"] for p in partials)
    texts = [p["text"] for p in partials]
    assert all(a != b for a, b in zip(texts, texts[1:])), f"an unchanged partial was sent again: {texts}"
    final = client.named("transcription_final")[0]
    assert final["text"] and 0.0 <= final["confidence"] <= 1.0 and final["latency_ms"] >= 0
    assert client.named("llm_token") and client.named("audio_chunk")
    assert all(e["turn_id"] == final["turn_id"] for e in client.named("audio_chunk"))

    row = db_rows(speech_system, "SELECT t.final_text, t.audio_url, t.confidence, t.partial_results, c.user_input, "
                  "c.session_id FROM transcriptions t JOIN conversation_turns c ON c.turn_id = t.turn_id "
                  "WHERE t.transcription_id = ?", final["transcription_id"].replace("-", ""))
    assert row, "no transcriptions row"
    text, key, confidence, partial_json, user_input, _ = row[0]
    assert text == final["text"] == user_input
    assert key.startswith("raw_inputs/") and session["session_id"] in key
    wav = speech_system.data_dir / "storage" / key
    import soundfile as sf

    samples, sr = sf.read(wav)
    assert sr == 16_000 and abs(len(samples) / sr - (len(utterance) / 16_000 - 0.3 - 1.0)) < 0.6
    assert '"partials"' in partial_json

    analysis = client.named("prosody_analysis")[0]
    scored = httpx.get(f"{speech_system.base_url}/api/v1/prosody/{final['transcription_id']}", headers=speech_system.auth, timeout=10)
    assert scored.status_code == 200 and scored.json()["status"] == analysis["status"]
    summary = httpx.get(f"{speech_system.base_url}/api/v1/sessions/{session['session_id']}/prosody", headers=speech_system.auth, timeout=10)
    assert summary.status_code == 200 and len(summary.json()["turns"]) == 1


def test_barge_in_interrupts_the_reply(speech_system: System, utterance: np.ndarray) -> None:
    async def scenario() -> tuple[EventClient, str, str]:
        client, _ = await connected(speech_system)
        await stream_realtime(client.sio.emit, utterance)
        first = (await client.wait_for(lambda: client.named("transcription_final"), 60, "final"))[0]
        old_turn = first["turn_id"]
        chunk = (await client.wait_for(
            lambda: [e for e in client.named("audio_chunk") if e["turn_id"] == old_turn], 60, "first audio"))[0]
        await client.sio.call("playback_state", {"turn_id": old_turn, "state": "playing", "played_seq": 0,
                                                 "played_ms": chunk["duration_ms"] / 2})
        await stream_realtime(client.sio.emit, utterance)  # the user talks over the reply
        interrupt = (await client.wait_for(lambda: client.named("interrupt"), 30, "interrupt"))[0]
        assert interrupt["turn_id"] == old_turn
        cut = next(i for i, (_, name, _) in enumerate(client.events) if name == "interrupt")
        finals = await client.wait_for(lambda: client.named("transcription_final")[1:], 60, "second final")
        new_turn = finals[0]["turn_id"]
        await client.wait_for(
            lambda: [e for e in client.named("turn_audio_complete") if e["turn_id"] == new_turn], 90, "new turn")
        after = [d for _, name, d in client.events[cut:] if name == "audio_chunk" and d["turn_id"] == old_turn]
        assert after == [], "the interrupted turn emitted audio after the interrupt"
        await client.disconnect()
        return client, old_turn, chunk["text"]

    client, old_turn, first_sentence = asyncio.run(scenario())
    status, spoken = db_rows(speech_system, "SELECT status, ai_response FROM conversation_turns WHERE turn_id = ?",
                             old_turn.replace("-", ""))[0]
    assert status == "interrupted"
    assert spoken == first_sentence[: len(first_sentence) // 2]  # half of the first sentence was heard


def test_bad_frames_get_errors_and_the_session_goes_on(speech_system: System, utterance: np.ndarray) -> None:
    other = speech_system.new_session()

    async def bystander() -> EventClient:  # another session streaming at the same time
        client, _ = await connected(speech_system)
        await stream_realtime(client.sio.emit, utterance)
        await client.wait_for(lambda: client.named("transcription_final"), 60, "the bystander's final")
        await client.disconnect()
        return client

    async def both() -> tuple[EventClient, EventClient]:
        return await asyncio.gather(scenario(), bystander())

    async def scenario() -> EventClient:
        client, _ = await connected(speech_system)
        good = utterance[:640].tobytes()
        await client.sio.emit("audio_chunk", {"data": base64.b64encode(good).decode(), "sr": 44_100})
        await client.sio.emit("audio_chunk", good[:-1])  # odd byte count
        await client.sio.emit("audio_chunk", b"\0" * 10_000_000)  # a 10 MB frame
        await client.sio.emit("audio_chunk", {"data": "not base64!", "sr": 16_000})
        await client.sio.emit("audio_chunk", {"data": base64.b64encode(good).decode(), "sr": 16_000,
                                              "session_id": other["session_id"]})
        await client.sio.emit("audio_chunk", 12345)
        for _ in range(120):  # a burst far above the frame rate limit
            await client.sio.emit("audio_chunk", good)
        await client.wait_for(lambda: len(client.named("error")) >= 7, 20, "the errors")
        assert client.sio.connected
        # ... and the same connection still transcribes a proper stream (JSON base64 form).
        await asyncio.sleep(1.1)  # let the rate limiter's bucket refill: it is per second
        step = 640
        for offset in range(0, len(utterance), step):
            frame = {"data": base64.b64encode(utterance[offset:offset + step].tobytes()).decode(), "sr": 16_000,
                     "timestamp": offset / 16}
            await client.sio.emit("audio_chunk", frame)
            await asyncio.sleep(0.04)
        await client.wait_for(lambda: client.named("transcription_final"), 60, "final after bad frames")
        await client.disconnect()
        return client

    client, other_client = asyncio.run(both())
    assert not other_client.named("error"), other_client.named("error")  # unaffected
    codes = [e["code"] for e in client.named("error")]
    for code in ("BAD_AUDIO", "FRAME_TOO_LARGE", "UNAUTHORIZED", "RATE_LIMITED"):
        assert code in codes, codes
    messages = " ".join(e["message"] for e in client.named("error"))
    assert "16000" in messages and "base64" in messages


def test_silence_only_push_to_talk_is_rejected(speech_system: System) -> None:
    async def scenario() -> EventClient:
        client, _ = await connected(speech_system)
        await stream_realtime(client.sio.emit, np.zeros(16_000, dtype=np.int16), speed=4.0)
        ack = await client.sio.call("audio_end", {})
        assert ack["ok"] and ack["utterances"] == 0
        await client.wait_for(lambda: client.named("transcription_rejected"), 10, "rejection")
        await client.disconnect()
        return client

    client = asyncio.run(scenario())
    assert client.named("transcription_rejected")[0]["reason"] == "no_speech"
    assert not client.named("vad_state")


def test_frames_for_a_closed_session_are_refused(speech_system: System, utterance: np.ndarray) -> None:
    async def scenario() -> EventClient:
        client, session = await connected(speech_system)
        db_rows(speech_system, "UPDATE sessions SET status = 'ended' WHERE session_id = ?",
                session["session_id"].replace("-", ""))
        await client.sio.emit("audio_chunk", utterance[:640].tobytes())
        await client.wait_for(lambda: client.named("error"), 10, "the refusal")
        await client.disconnect()
        return client

    client = asyncio.run(scenario())
    assert client.named("error")[0]["code"] == "SESSION_NOT_FOUND"
