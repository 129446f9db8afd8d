"""Bad input over a real websocket gets a clear ``error`` and changes nothing; sessions
only ever see their own events. Runs against the tiny system (real API, workers, Redis)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import socketio

from api.security import issue_session_token
from avatar.licences import ENGINE_WEIGHTS
from avatar.settings import Settings
from tests.system import EventClient, System


async def _connected(system: System) -> tuple[dict, EventClient]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    return session, client


def _turns(system: System, session_id: str) -> list[dict]:
    return httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10).json()


async def _refusal(system: System, auth: object) -> dict:
    """Try to connect; return the server's ``connect_error`` payload (the reason it refused)."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[dict] = []

    @client.event
    async def connect_error(data: dict) -> None:
        reasons.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(system.base_url, auth=auth, transports=["websocket"], wait_timeout=5)
    assert reasons, "no connect_error reason received"
    assert reasons[0]["message"]
    return reasons[0]["data"]


@pytest.mark.parametrize(
    "auth",
    [None, {}, {"session_id": "not-a-uuid", "token": "x"}, "a string"],
    ids=["no-auth", "empty", "bad-uuid", "not-a-dict"],
)
def test_connect_without_valid_credentials_is_refused(tiny_system: System, auth: object) -> None:
    reason = asyncio.run(_refusal(tiny_system, auth))
    assert reason["code"] == "UNAUTHORIZED" and reason["message"]


def test_wrong_token_and_unknown_session_are_refused(tiny_system: System) -> None:
    session = tiny_system.new_session()
    secret = tiny_system.env["AVATAR_SECRET_KEY"]
    stranger = str(uuid.uuid4())
    cases = [
        ({"session_id": session["session_id"], "token": "forged"}, "UNAUTHORIZED"),
        # Another session's token does not open this one.
        ({"session_id": session["session_id"], "token": tiny_system.new_session()["token"]}, "UNAUTHORIZED"),
        # A correctly signed id that was never created.
        ({"session_id": stranger, "token": issue_session_token(Settings(secret_key=secret), stranger)},
         "SESSION_NOT_FOUND"),
    ]

    for auth, code in cases:
        assert asyncio.run(_refusal(tiny_system, auth))["code"] == code


def test_unknown_event_and_malformed_payloads_get_clear_errors(tiny_system: System) -> None:
    async def scenario() -> tuple[dict, list]:
        session, client = await _connected(tiny_system)
        acks = [
            await client.sio.call("dance", {"x": 1}, timeout=5),
            await client.sio.call("user_message", 42, timeout=5),
            await client.sio.call("user_message", {"txt": "hi"}, timeout=5),
            await client.sio.call("user_message", {"text": "   "}, timeout=5),
            await client.sio.call("user_message", {"text": ["a", "b"]}, timeout=5),
        ]
        await client.wait_for(lambda: len(client.named("error")) >= 5, 10, "five error events")
        await client.disconnect()
        return session, acks

    session, acks = asyncio.run(scenario())
    codes = [ack["error"]["code"] for ack in acks]
    assert codes == ["UNKNOWN_EVENT", "BAD_REQUEST", "BAD_REQUEST", "BAD_REQUEST", "BAD_REQUEST"]
    assert all(ack["ok"] is False and ack["error"]["message"] and ack["error"]["trace_id"] for ack in acks)
    assert _turns(tiny_system, session["session_id"]) == [], "bad input must not create turns"


def test_100_kb_message_is_refused_and_nothing_is_written(tiny_system: System) -> None:
    async def scenario() -> tuple[dict, dict]:
        session, client = await _connected(tiny_system)
        ack = await client.sio.call("user_message", {"text": "長" * 100_000}, timeout=10)
        await client.disconnect()
        return session, ack

    session, ack = asyncio.run(scenario())
    assert ack["ok"] is False and ack["error"]["code"] == "MESSAGE_TOO_LONG"
    assert "2000" in ack["error"]["message"]
    assert _turns(tiny_system, session["session_id"]) == []


def test_sessions_only_receive_their_own_events(tiny_system: System) -> None:
    async def scenario() -> tuple[EventClient, EventClient, str]:
        _, alice = await _connected(tiny_system)
        _, bob = await _connected(tiny_system)
        ack = await alice.sio.call("user_message", {"text": "只有我聽得到嗎？"}, timeout=10)
        assert ack["ok"], ack
        await alice.wait_for(lambda: alice.named("turn_audio_complete"), 180, "alice's turn")
        await asyncio.sleep(0.5)  # let any stray event reach bob before looking
        await alice.disconnect()
        await bob.disconnect()
        return alice, bob, ack["turn_id"]

    alice, bob, turn_id = asyncio.run(scenario())
    assert alice.named("llm_token") and alice.named("audio_chunk")
    assert bob.events == [], f"bob saw alice's events: {[name for _, name, _ in bob.events]}"


def test_rest_unknown_and_invalid_ids(tiny_system: System) -> None:
    base, auth = tiny_system.base_url, tiny_system.auth
    missing = httpx.get(f"{base}/api/v1/sessions/{uuid.uuid4()}", headers=auth, timeout=10)
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "SESSION_NOT_FOUND"
    assert "not found" in missing.json()["detail"]["message"]
    assert httpx.get(f"{base}/api/v1/sessions/{uuid.uuid4()}/turns", headers=auth, timeout=10).status_code == 404
    assert httpx.get(f"{base}/api/v1/sessions/not-a-uuid", headers=auth, timeout=10).status_code == 422
    listing = httpx.get(f"{base}/api/v1/sessions", params={"limit": 0}, headers=auth, timeout=10)
    assert listing.status_code == 422


def test_rest_sessions_and_health_and_metrics(tiny_system: System) -> None:
    base, auth = tiny_system.base_url, tiny_system.auth
    created = httpx.post(f"{base}/api/v1/sessions", headers=auth, timeout=10)
    assert created.status_code == 201
    body = created.json()
    assert body["token"] and body["ws_url"].endswith("/socket.io")
    one = httpx.get(f"{base}/api/v1/sessions/{body['session_id']}", headers=auth, timeout=10).json()
    assert one["status"] == "active" and one["turn_count"] == 0
    listed = httpx.get(f"{base}/api/v1/sessions", headers=auth, timeout=10).json()
    assert any(s["session_id"] == body["session_id"] for s in listed)

    health = httpx.get(f"{base}/api/v1/health", timeout=10).json()
    assert {"redis", "database", "storage"} <= set(health["components"])
    assert health["lanes"]["llm"]["workers"] and health["lanes"]["tts_fast"]["workers"]
    assert health["engines"]["llm"]["available"] is True
    assert health["engines"]["tts_fast"]["engine"] == "espeak"
    assert health["versions"]["celery"]
    licences = health["licences"]
    assert licences["mode"] == "any"
    assert licences["engines"]["tts_fast_engine"] == {**ENGINE_WEIGHTS["espeak"].as_dict(), "engine": "espeak"}
    assert licences["engines"]["llm_engine"]["licence"] == "Apache-2.0"
    scheduler = health["scheduler"]
    assert scheduler["admission"]["max_active"] == 200 and scheduler["hq_slot"] is None
    assert scheduler["hq_breaker"]["state"] == "closed"
    assert scheduler["preset"] == "single-4090" and scheduler["gpus"]["0"]["budget_mb"] > 0

    metrics = httpx.get(f"{base}/api/v1/metrics", timeout=10)
    assert metrics.status_code == 200 and "avatar_queue_length" in metrics.text
    assert "active_sessions_count" in metrics.text and 'gpu_breaker_state{breaker="tts_hq"} 0.0' in metrics.text
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
