"""Voice cloning end to end on real processes: the API, and Celery workers for the ``llm``,
``tts_fast`` (``lite``), ``tts_hq``, ``asr``, ``prosody`` (voice analysis) and ``batch`` lanes on the real Redis, SQLite
and local storage; clients over real HTTP and Socket.IO websockets.

The HQ lane runs the ``lite`` engine at its highest-quality settings (``lite_hq``), labelled
as such: CosyVoice needs a GPU, which these machines do not have. No ASR engine is
installed on this branch, so reference transcripts end ``unavailable`` (the real path).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from celery import Celery

from avatar.domain import Lane
from avatar.jobs import HQ_TURN
from avatar.queue import producer_app
from avatar.settings import Settings
from gpu_scheduler.state import HQ_SLOT
from tests.conftest import make_system
from tests.system import EventClient, System, wait_until
from tests.voices import espeak_reference

REPLY = "好的，我來說明。今天台北天氣晴朗，氣溫大約25度。很適合出門走走，也可以去公園散步。"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("cloning"), "cloning", tiny_models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_BENCH_REPLY=REPLY,
        AVATAR_TTS_FAST_ENGINE="lite", AVATAR_TTS_HQ_ENGINE="lite_hq",
        # A short hard limit keeps the HQ slot's TTL (a third of it) short for the kill test.
        AVATAR_TTS_TIME_LIMIT_S="30", AVATAR_TTS_SOFT_TIME_LIMIT_S="25",
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast")
        system.start_worker("tts_hq", concurrency=2)  # a real pool of two: still one HQ job at a time
        system.start_worker("batch")
        system.start_worker("batch_fast")
        system.start_worker("asr")
        system.start_worker("prosody")  # analyses each upload (the API loads no model)
        system.wait_for_lanes("llm", "tts_fast", "tts_hq", "batch", "batch_fast", "asr", "prosody", timeout=180)
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav", variant="f3", pitch=70)
    return path.read_bytes()


def _encode(samples: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt)
    return buf.getvalue()


def _ready(system: System, profile_id: str) -> dict[str, Any]:
    """The profile once the prosody lane's analysis made it ready."""
    def settled() -> dict[str, Any] | None:
        body = httpx.get(f"{system.base_url}/api/v1/voice-profiles/{profile_id}", headers=system.auth, timeout=10).json()
        return body if body["status"] != "processing" else None

    body = wait_until(settled, 120, f"the analysis of voice {profile_id}", interval=0.5)
    assert body["status"] == "ready", body
    return body


def _upload(system: System, data: bytes, filename: str, **form: str) -> httpx.Response:
    """The upload's answer (the profile in ``processing``), returned once an accepted
    profile is ready to be used."""
    response = httpx.post(
        f"{system.base_url}/api/v1/voice-profiles", files={"file": (filename, data)},
        data={"name": "測試聲音", **form}, headers=system.auth, timeout=120,
    )
    if response.status_code == 201:
        _ready(system, response.json()["profile_id"])
    return response


@pytest.fixture(scope="module")
def profile(system: System, reference: bytes) -> dict[str, Any]:
    response = _upload(system, reference, "ref.wav")
    assert response.status_code == 201, response.text
    return _ready(system, response.json()["profile_id"])


def test_bad_uploads_get_clear_errors(system: System, reference: bytes) -> None:
    speech, sr = sf.read(io.BytesIO(reference), dtype="float32")
    silence = np.zeros(sr * 25, dtype=np.float32)
    cases = {
        "VOICE_UNDECODABLE": (b"this is not audio at all" * 50, "x.mp3"),
        "VOICE_TOO_SHORT": (_encode(speech[: int(sr * 2.5)], sr, "WAV"), "short.wav"),
        "VOICE_TOO_LONG": (_encode(np.tile(speech, 6), sr, "FLAC"), "long.flac"),
        "VOICE_MOSTLY_SILENCE": (_encode(np.concatenate([speech[: sr * 3], silence]), sr, "WAV"), "quiet.wav"),
        "VOICE_CLIPPED": (_encode(np.clip(speech * 30, -1, 1), sr, "WAV"), "loud.wav"),
        "VOICE_TOO_LARGE": (os.urandom(21 * 1024 * 1024), "huge.wav"),
    }
    for code, (data, name) in cases.items():
        response = _upload(system, data, name)
        assert response.status_code in (413, 422), (code, response.text)
        detail = response.json()["detail"]
        assert detail["code"] == code, (code, detail)
        assert any("\u4e00" <= c <= "\u9fff" for c in detail["message"]) and "(" in detail["message"].replace("（", "(")
    listed = httpx.get(f"{system.base_url}/api/v1/voice-profiles", headers=system.auth, timeout=10).json()
    assert all(p["name"] != "bad" for p in listed)
    assert not list((system.data_dir / "storage").glob("voice_profiles/*/original.bin"))


def test_upload_stores_reference_embedding_prosody_and_flags_the_transcript(
    system: System, profile: dict[str, Any], reference: bytes,
) -> None:
    assert 5.0 <= profile["duration_sec"] <= 30.0
    assert profile["prosody"]["f0_median_hz"] > 0
    audio = httpx.get(profile["url"], timeout=10)
    assert audio.status_code == 200 and sf.info(io.BytesIO(audio.content)).samplerate == 24_000
    # No ASR engine on this branch: the job on the asr lane flags the transcript.
    status = wait_until(
        lambda: httpx.get(f"{system.base_url}/api/v1/voice-profiles/{profile['profile_id']}", headers=system.auth, timeout=10)
        .json()["transcript_status"] in ("unavailable", "done"), 120, "the reference transcript job",
    )
    assert status
    # A compressed upload (Ogg Vorbis) with a transcript given goes through PyAV too.
    speech, sr = sf.read(io.BytesIO(reference), dtype="float32")
    ogg = _upload(system, _encode(speech, sr, "OGG"), "ref.ogg", transcript="這是一段參考錄音")
    assert ogg.status_code == 201, ogg.text
    assert ogg.json()["transcript_status"] == "given"
    httpx.delete(f"{system.base_url}/api/v1/voice-profiles/{ogg.json()['profile_id']}", headers=system.auth, timeout=10)


def test_preview_in_each_tier(system: System, profile: dict[str, Any]) -> None:
    response = httpx.post(f"{system.base_url}/api/v1/voice-profiles/{profile['profile_id']}/preview", headers=system.auth, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "你好，這是測試"
    assert body["tiers"]["fast"]["status"] == "ready" and body["tiers"]["fast"]["engine"] == "lite"
    assert body["tiers"]["hq"]["status"] == "ready" and body["tiers"]["hq"]["engine"] == "lite_hq"
    assert httpx.get(body["tiers"]["hq"]["url"], timeout=10).status_code == 200


async def _both_turn(system: System, voice_id: str) -> tuple[EventClient, str, str]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    ack = await client.sio.call("set_tts_mode", {"mode": "both", "voice_profile_id": voice_id}, timeout=10)
    assert ack == {"ok": True, "mode": "both", "voice_profile_id": voice_id}
    sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
    assert sent["ok"], sent
    await client.wait_for(lambda: client.named("hq_audio_ready") or [
        e for e in client.named("error") if e["code"] == "HQ_UNAVAILABLE"], 240, "the HQ rendering")
    await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the fast audio")
    await client.disconnect()
    return client, sent["turn_id"], session["session_id"]


@pytest.fixture(scope="module")
def both_turns(system: System, profile: dict[str, Any]) -> list[tuple[EventClient, str, str]]:
    """Two sessions' turns in mode ``both`` at once (client, turn_id, session_id), made by
    whichever test asks first: no test depends on another one having run."""
    async def two() -> list[tuple[EventClient, str, str]]:
        return list(await asyncio.gather(*(_both_turn(system, profile["profile_id"]) for _ in range(2))))

    return asyncio.run(two())


def test_cloned_turns_in_mode_both_fast_first_then_hq_never_overlapping(
    system: System, both_turns: list[tuple[EventClient, str, str]],
) -> None:
    intervals = []
    for client, turn_id, session_id in both_turns:
        chunks = client.named("audio_chunk")
        assert chunks and {c["mode"] for c in chunks} == {"fast"} and {c["engine"] for c in chunks} == {"lite"}
        times = {name: t for t, name, _ in reversed(client.events)}
        assert times["audio_chunk"] < times["hq_audio_ready"], "the fast audio comes first"
        (ready,) = client.named("hq_audio_ready")
        assert ready["turn_id"] == turn_id and ready["duration_ms"] > 1000
        assert httpx.get(ready["url"], timeout=10).status_code == 200
        (turn,) = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()
        assert turn["replay_mode"] == "hq" and turn["hq_url"]
        assert turn["audio"][0]["mode"] == "hq", "replays prefer HQ"
        assert {a["mode"] for a in turn["audio"]} == {"fast", "hq"}, "the fast audio is kept"
        intervals.append((turn["latency"]["hq_started_at"], turn["latency"]["hq_done_at"]))
    (a0, a1), (b0, b1) = sorted(intervals)
    assert a1 <= b0, f"two HQ jobs overlapped: {intervals}"


def test_resynthesis_completes_with_progress_and_is_idempotent(
    system: System, both_turns: list[tuple[EventClient, str, str]], tmp_path: Path,
) -> None:
    session_id = both_turns[0][2]  # a session whose turn was spoken in mode both
    other = _upload(system, espeak_reference(tmp_path / "other.wav", variant="m1", pitch=30).read_bytes(), "o.wav")
    voice = other.json()["profile_id"]
    start = httpx.post(f"{system.base_url}/api/v1/resynthesis",
                       json={"session_id": session_id, "mode": "fast", "voice_profile_id": voice},
                       headers=system.auth, timeout=10)
    assert start.status_code == 202, start.text
    job = start.json()
    assert job["total"] == 1 and job["status_url"].endswith(job["job_id"])
    seen: list[float] = []

    def finished() -> dict[str, Any] | None:
        state = httpx.get(f"{system.base_url}{job['status_url']}", headers=system.auth, timeout=10).json()
        seen.append(state["progress"])
        return state if state["status"] == "completed" else None

    state = wait_until(finished, 120, "the re-synthesis job")
    assert state["done"] == 1 and state["failed"] == 0 and state["progress"] == 1.0
    (turn,) = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()
    fast = [a for a in turn["audio"] if a["mode"] == "fast"]
    assert fast and {a["engine"] for a in fast} == {"lite"}
    # The same (turn, voice, mode) again: skipped; from the command line, with its progress bar.
    out = system.run_cli("resynth", "--session", session_id, "--mode", "fast", "--voice", voice, timeout=180)
    assert "skipped 1" in out.stdout and "re-synthesising" in (out.stdout + out.stderr)


def test_resynthesis_of_unknown_ids_is_refused_before_anything_is_queued(system: System) -> None:
    nobody = "00000000-0000-0000-0000-000000000000"
    url = f"{system.base_url}/api/v1/resynthesis"
    unknown_session = httpx.post(url, json={"session_id": nobody}, headers=system.auth, timeout=10)
    assert unknown_session.status_code == 404 and unknown_session.json()["detail"]["code"] == "SESSION_NOT_FOUND"
    since = {"since": "2026-01-01T00:00:00Z", "voice_profile_id": nobody}
    unknown_voice = httpx.post(url, json=since, headers=system.auth, timeout=10)
    assert unknown_voice.status_code == 404 and unknown_voice.json()["detail"]["code"] == "VOICE_NOT_FOUND"
    malformed = httpx.post(url, json={"session_id": "nope"}, headers=system.auth, timeout=10)
    assert malformed.status_code == 422
    # The command line says the same, exit status 2, no traceback.
    with pytest.raises(subprocess.CalledProcessError) as refused:
        system.run_cli("resynth", "--session", "nope", timeout=60)
    assert refused.value.returncode == 2
    assert "SESSION_NOT_FOUND" in refused.value.stderr and "Traceback" not in refused.value.stderr
    with pytest.raises(subprocess.CalledProcessError) as refused:
        system.run_cli("resynth", "--since", "2026-01-01", "--voice", nobody, timeout=60)
    assert refused.value.returncode == 2 and "VOICE_NOT_FOUND" in refused.value.stderr


def test_delete_leaves_no_file(system: System, reference: bytes) -> None:
    created = _upload(system, reference, "gone.wav").json()
    profile_id = created["profile_id"]
    httpx.post(f"{system.base_url}/api/v1/voice-profiles/{profile_id}/preview", headers=system.auth, timeout=120)
    folder = system.data_dir / "storage" / "voice_profiles" / profile_id
    assert any(folder.iterdir())
    assert httpx.delete(f"{system.base_url}/api/v1/voice-profiles/{profile_id}", headers=system.auth, timeout=10).status_code == 204
    assert not folder.exists() or not any(folder.rglob("*"))
    assert httpx.get(f"{system.base_url}/api/v1/voice-profiles/{profile_id}", headers=system.auth, timeout=10).status_code == 404
    assert not (system.data_dir / "cache" / "voices" / profile_id).exists()


def _hq_render_running(app: Celery) -> tuple[str, int] | None:
    """(task id, pool process pid) of the turn rendering the HQ worker runs right now."""
    hq_worker = f"{Lane.TTS_HQ.value}@{socket.gethostname()}"
    active = app.control.inspect(destination=[hq_worker], timeout=2, limit=1).active() or {}
    running = [(t["id"], int(t["worker_pid"])) for t in active.get(hq_worker, []) if t["name"] == HQ_TURN.task]
    return running[0] if running else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_hq_worker_killed_mid_job_loses_nothing(system: System, profile: dict[str, Any]) -> None:
    """SIGKILL the pool process that runs a turn's HQ rendering while it holds the slot: the
    job is put back (acks late + reject on worker lost), waits for the dead holder's slot to
    expire, and runs again in another process; the fast audio was never at risk. The test
    proves each step: the rendering was running in that process, the process died, and
    the rendering that was recorded started after the kill."""
    redis_client = system.redis()
    app = producer_app(Settings(redis_url=system.env["AVATAR_REDIS_URL"], broker_url=""))
    wait_until(lambda: not redis_client.exists(HQ_SLOT), 60, "the HQ slot to be free (earlier previews)")

    async def run() -> tuple[tuple[EventClient, str, str], str, int, float]:
        task = asyncio.create_task(_both_turn(system, profile["profile_id"]))

        def holding() -> tuple[str, int] | None:
            return _hq_render_running(app) if redis_client.exists(HQ_SLOT) else None

        task_id, pid = await asyncio.to_thread(wait_until, holding, 120, "the HQ rendering to hold the slot",
                                               0.02)
        os.kill(pid, signal.SIGKILL)  # that pool process only; the Celery parent replaces it
        killed_at = time.time()
        await asyncio.to_thread(wait_until, lambda: not _alive(pid), 30, f"pool process {pid} to die")
        return await task, task_id, pid, killed_at

    (client, turn_id, session_id), task_id, killed_pid, killed_at = asyncio.run(run())
    assert not _alive(killed_pid)
    chunks = client.named("audio_chunk")
    (complete,) = client.named("turn_complete")
    assert [c["seq"] for c in chunks] == list(range(complete["chunks"])), "all fast audio delivered"
    assert not [e for e in client.named("error") if e["code"] == "HQ_UNAVAILABLE"], client.named("error")
    (ready,) = client.named("hq_audio_ready")  # the job was not lost: it ran again
    assert ready["turn_id"] == turn_id
    (turn,) = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()
    fast = [a for a in turn["audio"] if a["mode"] == "fast"]
    assert len(fast) == complete["chunks"], "the fast audio is stored"
    assert turn["replay_mode"] == "hq"
    assert len([a for a in turn["audio"] if a["mode"] == "hq"]) == complete["chunks"], "stored once"
    # The recorded rendering began after the kill, so another process ran it to the end.
    assert turn["latency"]["hq_started_at"] > killed_at, (turn["latency"], killed_at, task_id)
    pool = app.control.inspect(destination=[f"{Lane.TTS_HQ.value}@{socket.gethostname()}"], timeout=5).stats() or {}
    (stats,) = pool.values()
    assert killed_pid not in stats["pool"]["processes"] and len(stats["pool"]["processes"]) == 2


def test_open_hq_breaker_keeps_the_fast_audio_and_tells_the_client(system: System, profile: dict[str, Any]) -> None:
    """Five HQ failures in a row (recorded through the real shared breaker in Redis) open it:
    the next turn in mode ``both`` keeps its fast audio and the client gets the notice."""
    from gpu_scheduler.state import hq_breaker

    breaker = hq_breaker(system.redis())
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    assert breaker.state() == "open"
    try:
        client, _turn_id, session_id = asyncio.run(_both_turn(system, profile["profile_id"]))
    finally:
        breaker.reset()
    (notice,) = [e for e in client.named("error") if e["code"] == "HQ_UNAVAILABLE"]
    assert notice["message"].startswith("高品質模型暫時不可用") and notice["mode"] == "hq"
    assert not client.named("hq_audio_ready")
    (complete,) = client.named("turn_complete")
    assert [c["seq"] for c in client.named("audio_chunk")] == list(range(complete["chunks"]))
    (turn,) = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()
    assert turn["replay_mode"] == "fast" and turn["status"] == "completed"
