"""A voice upload on real processes: the API answers at once with the profile in
``processing`` after its cheap checks, a real ``prosody`` worker analyses the sample and the
profile becomes ``ready``, and the API process never loads torch or resemblyzer for it.

What a process has imported is read from ``/proc/<pid>/maps``: torch's shared libraries
(``libtorch*.so``, ``torch/_C``) and resemblyzer's VAD extension (``_webrtcvad``) are mapped
once imported, and never unmapped.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import make_system
from tests.system import REPO, EventClient, System, free_port, wait_until
from tests.voices import espeak_reference

TORCH_MARKERS = ("libtorch", "/torch/_C", "_webrtcvad", "/resemblyzer/")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(tmp_path_factory.mktemp("voice_job"), "voice_job", tiny_models_dir)
    try:
        system.start_api()
        system.start_worker("prosody", concurrency=1)
        system.wait_for_lanes("prosody")
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav", variant="m3", pitch=45).read_bytes()


def _upload(base_url: str, data: bytes, auth: dict[str, str], **form: str) -> httpx.Response:
    return httpx.post(f"{base_url}/api/v1/voice-profiles", files={"file": ("ref.wav", data)},
                      data={"name": "分析測試", **form}, headers=auth, timeout=60)


def _settled(system: System, profile_id: str, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = httpx.get(f"{system.base_url}/api/v1/voice-profiles/{profile_id}", headers=system.auth, timeout=10).json()
        return body if body["status"] != "processing" else None

    return wait_until(done, timeout, f"the analysis of {profile_id}", interval=0.5)


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _torch_in(pid: int) -> list[str]:
    return sorted({line.split()[-1] for line in _mapped(pid).splitlines() if any(m in line for m in TORCH_MARKERS)})


def test_upload_answers_processing_then_ready_and_the_api_never_loads_torch(system: System, reference: bytes) -> None:
    api_pid = system.procs["api"].pid
    assert not _children(api_pid), "the API runs in the process `cli api` started (uvicorn, one process)"
    session = system.new_session()

    async def upload_and_listen() -> tuple[dict[str, Any], int, list[Any]]:
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        response = await asyncio.to_thread(_upload, system.base_url, reference, system.auth, session_id=session["session_id"])
        assert response.status_code == 201, response.text
        created = response.json()
        # Still being analysed: a preview is refused with a code, not queued.
        early = await asyncio.to_thread(
            httpx.post, f"{system.base_url}/api/v1/voice-profiles/{created['profile_id']}/preview",
            headers=system.auth, timeout=10)
        await client.wait_for(lambda: client.named("voice_profile_state"), 90, "voice_profile_state")
        await client.disconnect()
        return created, early.status_code, [early.json(), *client.named("voice_profile_state")]

    created, early_status, (early, state) = asyncio.run(upload_and_listen())
    assert created["status"] == "processing" and created["error"] is None and created["prosody"] == {}
    assert 5.0 <= created["duration_sec"] <= 30.0, "the cheap check's speech length"
    assert early_status == 409 and early["detail"]["code"] == "VOICE_NOT_READY"
    assert state == {"profile_id": created["profile_id"], "status": "ready"}

    ready = _settled(system, created["profile_id"])
    assert ready["status"] == "ready" and ready["error"] is None
    assert ready["prosody"]["f0_median_hz"] > 0 and 5.0 <= ready["duration_sec"] <= 30.0
    assert ready["transcript_status"] == "pending", "no transcript given: one is queued on the asr lane"
    audio = httpx.get(ready["url"], timeout=10)
    assert audio.status_code == 200 and sf.info(io.BytesIO(audio.content)).samplerate == 24_000
    assert system.redis().llen("asr") + sum(system.redis().llen(f"asr:{p}") for p in range(1, 10)) >= 1

    # The API decoded the sample itself (PyAV's FFmpeg is mapped: the check is looking at the
    # right process) but loaded neither torch nor resemblyzer; the worker that analysed did.
    api_maps = _mapped(api_pid)
    assert "libavcodec" in api_maps
    assert _torch_in(api_pid) == [], f"the API process loaded {_torch_in(api_pid)}"
    workers = [p for p in _children(system.procs["worker-prosody"].pid) if _torch_in(p)]
    assert workers, "the prosody worker's pool process loaded torch for the embedding"


def test_a_bad_upload_is_still_refused_at_once(system: System, reference: bytes) -> None:
    speech, sr = sf.read(io.BytesIO(reference), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.concatenate([speech[: sr * 3], np.zeros(sr * 25, dtype=np.float32)]), sr, format="WAV")
    before = {p["profile_id"] for p in httpx.get(f"{system.base_url}/api/v1/voice-profiles", headers=system.auth, timeout=10).json()}
    response = _upload(system.base_url, buf.getvalue(), system.auth)
    assert response.status_code == 422 and response.json()["detail"]["code"] == "VOICE_MOSTLY_SILENCE"
    after = {p["profile_id"] for p in httpx.get(f"{system.base_url}/api/v1/voice-profiles", headers=system.auth, timeout=10).json()}
    assert after == before, "a refused sample leaves no profile"


def test_broker_down_marks_the_profile_failed_and_answers_503(system: System, reference: bytes, tmp_path: Path) -> None:
    """A second API on the same database and storage whose broker does not answer."""
    port = free_port()
    env = {**system.env, "AVATAR_BROKER_URL": "redis://127.0.0.1:1/0", "AVATAR_API_PORT": str(port)}
    with open(tmp_path / "api-nobroker.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "api", "--port", str(port)], env=env,
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        # Same secret key as the first API: the system's owner token is good here too.
        wait_until(lambda: httpx.get(f"{base}/api/v1/voice-profiles", headers=system.auth, timeout=5).status_code == 200, 60,
                   "the second API to answer")
        response = _upload(base, reference, system.auth)
        assert response.status_code == 503, response.text
        assert response.json()["detail"]["code"] == "QUEUE_UNAVAILABLE"
        listed = httpx.get(f"{system.base_url}/api/v1/voice-profiles", headers=system.auth, timeout=10).json()
        (failed,) = [p for p in listed if p["status"] == "failed" and p["error"]["code"] == "QUEUE_UNAVAILABLE"]
        assert "佇列" in failed["error"]["message"]
        assert httpx.post(f"{system.base_url}/api/v1/voice-profiles/{failed['profile_id']}/preview",
                          headers=system.auth, timeout=10).status_code == 409
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_an_analysis_that_fails_ends_failed_with_its_code(system: System, reference: bytes) -> None:
    """A prosody worker on a machine without espeak-ng: the sample passes the API's checks,
    the ``lite`` fit cannot run, and the profile ends ``failed`` (never ``processing``)."""
    system.stop("worker-prosody")
    saved = system.env
    system.env = {**saved, "PATH": os.path.dirname(sys.executable)}  # no espeak-ng on it
    try:
        system.start_worker("prosody", name="prosody-noespeak", concurrency=1)
    finally:
        system.env = saved
    system.wait_for_lanes("prosody")
    created = _upload(system.base_url, reference, system.auth)
    assert created.status_code == 201, created.text
    failed = _settled(system, created.json()["profile_id"])
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "ENGINE_UNAVAILABLE" and "espeak-ng" in failed["error"]["message"]
