"""Voice cloning on PostgreSQL and S3 (moto's server standing in for MinIO): a voice upload
analysed on the ``prosody`` lane, a turn spoken in the cloned voice, its HQ re-synthesis on
the ``batch`` lane, and the delete. Real processes (API, Celery workers for ``llm``,
``tts_fast`` (``lite``), ``prosody`` and ``batch``), real Redis; every row is read back from
PostgreSQL and every file from the object store, over its presigned URLs too.
(``test_voice_cloning_system.py`` covers the same paths in depth on SQLite and local files.)
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.db import SynthesizedAudio, VoiceProfile
from tests.conftest import make_system
from tests.system import EventClient, System, wait_until
from tests.voices import espeak_reference

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPLY = "好的，我來說明。今天台北天氣晴朗，很適合出門走走。"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("cloning-pg"), "cloning_pg", tiny_models_dir, stack="postgres",
        AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="lite", AVATAR_TTS_HQ_ENGINE="lite_hq",
    )
    try:
        system.start_api()
        for lane in ("llm", "tts_fast", "prosody", "batch"):
            system.start_worker(lane)
        system.wait_for_lanes("llm", "tts_fast", "prosody", "batch", timeout=180)
        yield system
    finally:
        system.stop_all()


def _get(system: System, path: str) -> Any:
    response = httpx.get(f"{system.base_url}{path}", headers=system.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _fetch_wav(url: str) -> tuple[bytes, int]:
    """A presigned URL of the object store, fetched as a browser would."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.content[:4] == b"RIFF", (url, response.status_code)
    return response.content, sf.info(io.BytesIO(response.content)).samplerate


async def _cloned_turn(system: System, voice_id: str) -> tuple[str, str, list[dict[str, Any]]]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    ack = await client.sio.call("set_tts_mode", {"mode": "fast", "voice_profile_id": voice_id}, timeout=10)
    assert ack["ok"], ack
    sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
    assert sent["ok"], sent
    await client.wait_for(lambda: client.named("turn_audio_complete"), 180, "the turn's audio")
    await client.disconnect()
    assert not client.named("error"), client.named("error")
    return session["session_id"], sent["turn_id"], client.named("audio_chunk")


def test_upload_cloned_turn_resynthesis_and_delete_on_postgres_and_s3(system: System, tmp_path: Path) -> None:
    storage = system.storage()
    assert system.stack == "postgres" and storage.name == "minio"

    # --- the upload, analysed on the prosody lane ----------------------------------------
    reference = espeak_reference(tmp_path / "ref.wav", variant="f3", pitch=70).read_bytes()
    created = httpx.post(f"{system.base_url}/api/v1/voice-profiles", files={"file": ("ref.wav", reference)},
                         data={"name": "雲端聲音"}, headers=system.auth, timeout=60)
    assert created.status_code == 201, created.text
    voice_id = created.json()["profile_id"]
    profile = wait_until(lambda: (p := _get(system, f"/api/v1/voice-profiles/{voice_id}"))["status"] != "processing"
                         and p, 120, "the voice analysis", interval=0.5)
    assert profile["status"] == "ready", profile
    assert _fetch_wav(profile["url"])[1] == 24_000  # the normalised reference, from S3
    assert _fetch_wav(profile["original_url"])[0] == reference
    engine = system.db_engine()
    assert engine.dialect.name == "postgresql"
    with DBSession(engine) as db:
        row = db.get(VoiceProfile, uuid.UUID(voice_id))
        assert row is not None
        voice_keys = [row.audio_url, (row.meta or {}).get("original_key", row.audio_url)]
    assert all(storage.exists(key) for key in voice_keys)

    # --- a turn in the cloned voice ------------------------------------------------------
    session_id, turn_id, chunks = asyncio.run(_cloned_turn(system, voice_id))
    assert chunks and {c["engine"] for c in chunks} == {"lite"} and {c["mode"] for c in chunks} == {"fast"}

    # --- its HQ re-synthesis on the batch lane, then the same again (skipped) -------------
    def resynthesise() -> dict[str, Any]:
        start = httpx.post(f"{system.base_url}/api/v1/resynthesis", headers=system.auth, timeout=10,
                           json={"session_id": session_id, "mode": "hq", "voice_profile_id": voice_id})
        assert start.status_code == 202, start.text
        status_url = start.json()["status_url"]
        return wait_until(lambda: (s := _get(system, status_url))["status"] == "completed" and s,
                          180, "the re-synthesis job", interval=0.5)

    done = resynthesise()
    assert (done["done"], done["skipped"], done["failed"]) == (1, 0, 0), done
    (turn,) = _get(system, f"/api/v1/sessions/{session_id}/turns")
    hq = [a for a in turn["audio"] if a["mode"] == "hq"]
    assert turn["replay_mode"] == "hq" and len(hq) == len(chunks) and {a["engine"] for a in hq} == {"lite_hq"}
    for audio in hq:
        _fetch_wav(audio["url"])
    with DBSession(engine) as db:
        rows = db.scalars(select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id))).all()
        assert sorted((r.mode, r.seq) for r in rows) == sorted(
            [("fast", c["seq"]) for c in chunks] + [("hq", a["seq"]) for a in hq])
        assert all(str(r.voice_profile_id) == voice_id for r in rows)
        audio_keys = [r.audio_url for r in rows]
    assert all(storage.exists(key) for key in audio_keys)
    again = resynthesise()
    assert (again["done"], again["skipped"]) == (0, 1), again

    # --- the delete leaves nothing of the voice in the object store -------------------------
    gone = httpx.delete(f"{system.base_url}/api/v1/voice-profiles/{voice_id}", headers=system.auth, timeout=10)
    assert gone.status_code == 204, gone.text
    assert not any(storage.exists(key) for key in voice_keys)
    with DBSession(engine) as db:
        assert db.get(VoiceProfile, uuid.UUID(voice_id)) is None
    engine.dispose()
