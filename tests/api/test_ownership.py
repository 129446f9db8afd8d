"""Only the owner reaches their data, on a real system: the API and real ``llm`` and
``tts_fast`` workers on the ``tiny`` profile, real Redis, SQLite, local storage, real
Socket.IO clients over websockets.

Owner A has a session with a spoken-back typed turn, a prosody result and an uploaded voice
(left ``processing``: no ``prosody`` worker runs, so nothing here waits for torch). Owner B
and a caller without credentials try everything of A's; the operator sees it all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from sqlalchemy.orm import Session as DBSession

from avatar.db import ProsodyScore, Transcription
from tests.conftest import make_system
from tests.system import REPO, EventClient, System, free_port
from tests.voices import espeak_reference

OPERATOR_TOKEN = "operator-" + uuid.uuid4().hex + uuid.uuid4().hex
OLD_DEFAULT_SECRET = "dev-secret-change-me"  # what the seed signed with when none was set
NO_SUCH_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class World:
    """What owner A has, and the credentials of A, B and the operator."""

    system: System
    a: dict[str, str]
    b: dict[str, str]
    operator: dict[str, str]
    session: dict[str, Any]  # A's, from POST /sessions (with its token)
    turn_id: str
    transcription_id: str
    voice: dict[str, Any]  # A's upload answer
    job: dict[str, Any]  # A's re-synthesis job

    def url(self, path: str) -> str:
        return f"{self.system.base_url}{path}"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    # The "tiny" Redis database: this module never runs beside tiny_system (each flushes it).
    system = make_system(tmp_path_factory.mktemp("ownership"), "tiny", tiny_models_dir,
                         AVATAR_OPERATOR_TOKEN=OPERATOR_TOKEN)
    try:
        system.start_api()
        for lane in ("llm", "tts_fast"):
            system.start_worker(lane, concurrency=1)
        system.wait_for_lanes("llm", "tts_fast")
        yield system
    finally:
        system.stop_all()


async def _typed_turn(system: System, session: dict[str, Any], text: str) -> str:
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    try:
        ack = await client.sio.call("user_message", {"text": text}, timeout=15)
        assert ack["ok"], ack
        await client.wait_for(
            lambda: [e for e in client.named("turn_audio_complete") if e["turn_id"] == ack["turn_id"]],
            180, "the turn's audio",
        )
    finally:
        await client.disconnect()
    return str(ack["turn_id"])


def _store_prosody(system: System, turn_id: str) -> str:
    """A transcription and its scores for A's turn, as the speech lanes would store them."""
    engine = system.db_engine()
    try:
        with DBSession(engine) as db, db.begin():
            transcription = Transcription(turn_id=uuid.UUID(turn_id), final_text="我的私人對話",
                                          confidence=0.9, audio_url=f"raw_input/{turn_id}.wav")
            transcription.prosody = ProsodyScore(confidence=61.0, stability=55.0, affability=70.0,
                                                 features={"mode": "norms"})
            db.add(transcription)
            db.flush()
            return str(transcription.transcription_id)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(system: System, tmp_path_factory: pytest.TempPathFactory) -> World:
    a, b = system.auth, system.new_owner()
    session = system.new_session(a)
    turn_id = asyncio.run(_typed_turn(system, session, "你好，請簡單介紹台北。"))
    reference = espeak_reference(tmp_path_factory.mktemp("ref") / "a.wav", variant="f2", pitch=55).read_bytes()
    upload = httpx.post(f"{system.base_url}/api/v1/voice-profiles", files={"file": ("a.wav", reference)},
                        data={"name": "A 的聲音"}, headers=a, timeout=60)
    assert upload.status_code == 201, upload.text
    job = httpx.post(f"{system.base_url}/api/v1/resynthesis", json={"session_id": session["session_id"]},
                     headers=a, timeout=10)
    assert job.status_code == 202, job.text
    return World(system=system, a=a, b=b, operator={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                 session=session, turn_id=turn_id, transcription_id=_store_prosody(system, turn_id),
                 voice=upload.json(), job=job.json())


def _a_resources(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route that shows or changes something of A's: (method, path, request options)."""
    sid, vid = w.session["session_id"], w.voice["profile_id"]
    return [
        ("GET", f"/api/v1/sessions/{sid}", {}),
        ("GET", f"/api/v1/sessions/{sid}/turns", {}),
        ("GET", f"/api/v1/sessions/{sid}/prosody", {}),
        ("GET", f"/api/v1/prosody/{w.transcription_id}", {}),
        ("GET", f"/api/v1/voice-profiles/{vid}", {}),
        ("POST", f"/api/v1/voice-profiles/{vid}/preview", {"json": {}}),
        ("GET", f"/api/v1/voice-profiles/{vid}/preview", {}),
        ("DELETE", f"/api/v1/voice-profiles/{vid}", {}),
        ("POST", "/api/v1/resynthesis", {"json": {"session_id": sid}}),
        ("GET", w.job["status_url"], {}),
    ]


def _send(w: World, method: str, path: str, auth: dict[str, str] | None, **options: Any) -> httpx.Response:
    return httpx.request(method, w.url(path), headers=auth or {}, timeout=30, **options)


def test_without_a_valid_credential_every_route_is_401(world: World) -> None:
    routes = [*_a_resources(world), ("GET", "/api/v1/sessions", {}), ("GET", "/api/v1/voice-profiles", {}),
              ("POST", "/api/v1/sessions", {})]
    forged_owner = _forged_owner_token(world.voice["profile_id"])
    for auth in (None, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {forged_owner}"},
                 {"Authorization": f"Basic {base64.b64encode(b'admin:avatar').decode()}"}):
        for method, path, options in routes:
            response = _send(world, method, path, auth, **options)
            assert response.status_code == 401, (method, path, auth, response.text)
            detail = response.json()["detail"]
            assert detail["code"] == "UNAUTHORIZED" and "owners" in detail["message"], detail
            assert response.headers["www-authenticate"] == "Bearer"


def test_another_owner_gets_404_as_if_nothing_existed(world: World) -> None:
    for method, path, options in _a_resources(world):
        response = _send(world, method, path, world.b, **options)
        assert response.status_code == 404, (method, path, response.text)
        detail = response.json()["detail"]
        assert detail["code"].endswith("NOT_FOUND") and detail["message"], (path, detail)
        # Exactly what a missing id answers: nothing tells B that A's exists.
        missing = _send(world, method, path.replace(world.session["session_id"], NO_SUCH_ID)
                        .replace(world.voice["profile_id"], NO_SUCH_ID)
                        .replace(world.transcription_id, NO_SUCH_ID)
                        .replace(world.job["job_id"], "0" * 32), world.b,
                        **({"json": {"session_id": NO_SUCH_ID}} if path == "/api/v1/resynthesis" else options))
        assert missing.status_code == 404 and missing.json()["detail"]["code"] == detail["code"], path

    # B's own session does not make A's voice usable, nor A's session a target of B's upload.
    mine = world.system.new_session(world.b)
    with_a_voice = _send(world, "POST", "/api/v1/resynthesis", world.b,
                         json={"session_id": mine["session_id"], "voice_profile_id": world.voice["profile_id"]})
    assert with_a_voice.status_code == 404 and with_a_voice.json()["detail"]["code"] == "VOICE_NOT_FOUND"
    upload = _send(world, "POST", "/api/v1/voice-profiles", world.b, files={"file": ("x.wav", b"RIFF")},
                   data={"name": "x", "session_id": world.session["session_id"]})
    assert upload.status_code == 404 and upload.json()["detail"]["code"] == "SESSION_NOT_FOUND"
    # "Every turn since then" is B's turns only: none.
    since = _send(world, "POST", "/api/v1/resynthesis", world.b, json={"since": "2000-01-01T00:00:00Z"})
    assert since.status_code == 202 and since.json()["total"] == 0


def test_the_owner_reaches_all_of_it(world: World) -> None:
    w, sid = world, world.session["session_id"]
    (turn,) = _send(w, "GET", f"/api/v1/sessions/{sid}/turns", w.a).json()
    assert turn["turn_id"] == w.turn_id and turn["audio"]
    assert httpx.get(turn["audio"][0]["url"], timeout=10).status_code == 200  # the signed link plays
    summary = _send(w, "GET", f"/api/v1/sessions/{sid}/prosody", w.a).json()
    assert summary["analyzed"] == 1 and summary["turns"][0]["scores"]["affability"] == 70.0
    assert _send(w, "GET", f"/api/v1/prosody/{w.transcription_id}", w.a).json()["transcript"] == "我的私人對話"
    voice = _send(w, "GET", f"/api/v1/voice-profiles/{w.voice['profile_id']}", w.a).json()
    original = httpx.get(voice["original_url"], timeout=10)
    assert original.status_code == 200 and original.content[:4] == b"RIFF"
    # Still processing (no prosody worker): found, and refused for what it is.
    preview = _send(w, "POST", f"/api/v1/voice-profiles/{w.voice['profile_id']}/preview", w.a, json={})
    assert preview.status_code == 409 and preview.json()["detail"]["code"] == "VOICE_NOT_READY"
    progress = _send(w, "GET", w.job["status_url"], w.a).json()
    assert progress["session_id"] == sid and progress["total"] == 1


def test_lists_show_only_ones_own_and_the_operator_sees_all(world: World) -> None:
    w = world
    b_session = w.system.new_session(w.b)["session_id"]

    def sessions(auth: dict[str, str]) -> set[str]:
        return {s["session_id"] for s in _send(w, "GET", "/api/v1/sessions", auth, params={"limit": 200}).json()}

    def voices(auth: dict[str, str]) -> set[str]:
        return {v["profile_id"] for v in _send(w, "GET", "/api/v1/voice-profiles", auth).json()}

    a_sessions, b_sessions = sessions(w.a), sessions(w.b)
    assert w.session["session_id"] in a_sessions and b_session not in a_sessions
    assert b_session in b_sessions and w.session["session_id"] not in b_sessions
    assert voices(w.a) == {w.voice["profile_id"]} and voices(w.b) == set()

    assert {w.session["session_id"], b_session} <= sessions(w.operator)
    assert w.voice["profile_id"] in voices(w.operator)
    sid = w.session["session_id"]
    assert _send(w, "GET", f"/api/v1/sessions/{sid}/turns", w.operator).json()[0]["turn_id"] == w.turn_id
    assert _send(w, "GET", w.job["status_url"], w.operator).status_code == 200
    wrong = {"Authorization": f"Bearer {OPERATOR_TOKEN}x"}
    assert _send(w, "GET", "/api/v1/sessions", wrong).status_code == 401


async def _set_voice(system: System, session: dict[str, Any], voice_id: str) -> dict[str, Any]:
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    try:
        return await client.sio.call("set_tts_mode", {"mode": "hq", "voice_profile_id": voice_id}, timeout=10)
    finally:
        await client.disconnect()


def test_another_owners_voice_cannot_be_selected(world: World) -> None:
    b_session = world.system.new_session(world.b)
    taken = asyncio.run(_set_voice(world.system, b_session, world.voice["profile_id"]))
    unknown = asyncio.run(_set_voice(world.system, b_session, str(uuid.uuid4())))
    assert taken["ok"] is False and taken["error"]["code"] == unknown["error"]["code"] == "BAD_REQUEST"
    assert "not found" in taken["error"]["message"]
    # For A the same voice is found (and refused only because its analysis has not run).
    own = asyncio.run(_set_voice(world.system, world.session, world.voice["profile_id"]))
    assert own["ok"] is False and own["error"]["code"] == "VOICE_NOT_READY"


def _old_default_mac(message: str) -> str:
    digest = hmac.new(OLD_DEFAULT_SECRET.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _forged_owner_token(owner_id: str) -> str:
    return f"{owner_id}.{_old_default_mac(f'owner:{owner_id}')}"


async def _connect_error(system: System, auth: dict[str, Any]) -> dict[str, Any]:
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[dict[str, Any]] = []

    @client.event
    async def connect_error(data: dict[str, Any]) -> None:
        reasons.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(system.base_url, auth=auth, transports=["websocket"], wait_timeout=5)
    return reasons[0]["data"]


def test_a_token_forged_with_the_old_default_secret_opens_nothing(world: World) -> None:
    sid = world.session["session_id"]
    forged = {"session_id": sid, "token": _old_default_mac(f"session:{sid}")}
    assert asyncio.run(_connect_error(world.system, forged))["code"] == "UNAUTHORIZED"
    owner = {"Authorization": f"Bearer {_forged_owner_token(str(uuid.uuid4()))}"}
    assert _send(world, "GET", "/api/v1/sessions", owner).status_code == 401


def _api(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "api", "--port", str(free_port()), *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("secret", [OLD_DEFAULT_SECRET, "short-but-not-empty"])
def test_the_api_refuses_a_public_bind_with_a_weak_secret(system: System, secret: str) -> None:
    refused = _api({**system.env, "AVATAR_SECRET_KEY": secret}, "--host", "0.0.0.0")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "AVATAR_SECRET_KEY" in refused.stderr and "make up" in refused.stderr
    assert "0.0.0.0" in refused.stderr and "Traceback" not in refused.stderr


def test_the_api_refuses_to_start_without_a_secret(system: System) -> None:
    refused = _api({**system.env, "AVATAR_SECRET_KEY": ""})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "AVATAR_SECRET_KEY is not set" in refused.stderr and "make up" in refused.stderr


def test_only_the_configured_origins_are_answered(world: World) -> None:
    page = world.system.base_url  # public_base_url: the page's own origin
    foreign = "https://evil.example"
    own = httpx.get(world.url("/api/v1/sessions"), headers={**world.a, "Origin": page}, timeout=10)
    assert own.headers.get("access-control-allow-origin") == page
    other = httpx.get(world.url("/api/v1/sessions"), headers={**world.a, "Origin": foreign}, timeout=10)
    assert "access-control-allow-origin" not in other.headers
    preflight = httpx.options(world.url("/api/v1/sessions"), timeout=10, headers={
        "Origin": foreign, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers

    async def socket_from(origin: str) -> bool:
        client = socketio.AsyncClient(reconnection=False)
        session = world.system.new_session(world.a)
        try:
            await client.connect(page, auth={"session_id": session["session_id"], "token": session["token"]},
                                 headers={"Origin": origin}, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True

    assert asyncio.run(socket_from(page)) is True
    assert asyncio.run(socket_from(foreign)) is False


def test_the_terminal_client_is_an_owner_of_its_own(world: World) -> None:
    out = world.system.run_cli("chat", "你好", "--url", world.system.base_url, timeout=300)
    session_id = out.stdout.split("session ", 1)[1].split()[0]
    assert _send(world, "GET", f"/api/v1/sessions/{session_id}", world.a).status_code == 404
    assert _send(world, "GET", f"/api/v1/sessions/{session_id}", world.operator).json()["turn_count"] == 1
