"""Every Socket.IO handler answers, on the real API over real websockets: numbers that are
not finite (or not whole where whole numbers belong) are refused, an event sent with more
than one argument is refused, a handler that fails answers ``INTERNAL`` with the trace id
its log line carries, and six messages sent at once start exactly one turn. Also: the
session listing's paging is bounded (a 64-bit overflow is a 422, not a 500).

No worker runs: an accepted message stays queued, which is all these tests need."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from gpu_scheduler.admission import PREFIX
from tests.conftest import make_system
from tests.system import EventClient, System

FRAME = b"\0\0" * 320  # 20 ms of silence, PCM16 16 kHz


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(tmp_path_factory.mktemp("socket-answers"), "admission", tiny_models_dir)
    try:
        system.start_api()
        yield system
    finally:
        system.stop_all()


async def _connected(system: System) -> tuple[dict[str, Any], EventClient]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    return session, client


def _turns(system: System, session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{system.base_url}/api/v1/sessions/{session_id}/turns", headers=system.auth, timeout=10)
    response.raise_for_status()
    return response.json()


def _code(ack: Any) -> str:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert ack["error"]["message"] and ack["error"]["trace_id"], ack
    return str(ack["error"]["code"])


def test_non_finite_and_fractional_numbers_are_refused(system: System) -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any], list[Any]]:
        session, client = await _connected(system)
        call = client.sio.call
        refused = [
            await call("audio_chunk", {"data": FRAME, "sr": math.nan}, timeout=10),
            await call("audio_chunk", {"data": FRAME, "sr": math.inf}, timeout=10),
            await call("audio_chunk", {"data": FRAME, "sr": -math.inf}, timeout=10),
            await call("audio_chunk", {"data": FRAME, "sample_rate": 16000.5}, timeout=10),
            await call("playback_state", {"state": "playing", "played_seq": math.inf}, timeout=10),
            await call("playback_state", {"state": "playing", "played_seq": math.nan}, timeout=10),
            await call("playback_state", {"state": "playing", "played_seq": 1.5}, timeout=10),
            await call("playback_state", {"state": "playing", "played_seq": -1}, timeout=10),
            await call("playback_state", {"state": "playing", "played_ms": math.nan}, timeout=10),
            await call("playback_state", {"state": "playing", "played_ms": -math.inf}, timeout=10),
            # Longer than Engine.IO parses as an integer: read as ±inf, and refused.
            await call("playback_state", {"state": "playing", "played_ms": 10**400}, timeout=10),
            await call("user_message", {"text": -(10**400)}, timeout=10),
        ]
        accepted = [
            await call("audio_chunk", {"data": FRAME, "sr": 16000.0}, timeout=10),  # JSON has no ints
            await call("playback_state", {"state": "playing", "played_seq": 2.0, "played_ms": 350.5}, timeout=10),
        ]
        await client.disconnect()
        return session, refused, accepted

    session, refused, accepted = asyncio.run(scenario())
    assert [_code(ack) for ack in refused] == ["BAD_AUDIO"] * 4 + ["BAD_REQUEST"] * 8
    assert accepted == [None, {"ok": True}]
    assert _turns(system, session["session_id"]) == []


@pytest.mark.parametrize("event", ["user_message", "set_tts_mode", "audio_chunk", "audio_end", "playback_state"])
def test_an_event_with_more_than_one_argument_is_refused(system: System, event: str) -> None:
    async def scenario() -> tuple[dict[str, Any], Any, list[Any]]:
        session, client = await _connected(system)
        ack = await client.sio.call(event, ({"text": "你好"}, "a second argument"), timeout=10)
        await client.wait_for(lambda: client.named("error"), 10, "the error event")
        await client.disconnect()
        return session, ack, client.named("error")

    session, ack, errors = asyncio.run(scenario())
    assert _code(ack) == "BAD_REQUEST" and "one payload expected" in ack["error"]["message"]
    assert errors[0]["trace_id"] == ack["error"]["trace_id"]
    assert _turns(system, session["session_id"]) == []


def test_six_messages_at_once_start_exactly_one_turn(system: System) -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        session, client = await _connected(system)
        acks = await asyncio.gather(*(
            client.sio.call("user_message", {"text": f"同時送出的第 {i} 則訊息"}, timeout=30) for i in range(6)
        ))
        await client.disconnect()
        return session, list(acks)

    session, acks = asyncio.run(scenario())
    accepted = [ack for ack in acks if ack.get("ok")]
    assert len(accepted) == 1, acks
    assert sorted(_code(ack) for ack in acks if not ack.get("ok")) == ["TURN_IN_PROGRESS"] * 5
    turns = _turns(system, session["session_id"])
    assert [(t["turn_id"], t["turn_number"]) for t in turns] == [(accepted[0]["turn_id"], 1)]


def test_a_failing_handler_answers_internal_with_the_trace_id_it_logged(system: System) -> None:
    """The failure is real: the admission set in Redis replaced by a string, so every admit
    fails with WRONGTYPE (and is put back afterwards)."""
    client_redis = system.redis()
    slots = f"{PREFIX}:slots"

    async def scenario() -> tuple[Any, dict[str, Any]]:
        _, client = await _connected(system)
        saved = client_redis.zrange(slots, 0, -1, withscores=True)
        client_redis.set(slots, "not a sorted set")
        try:
            ack = await client.sio.call("user_message", {"text": "你好"}, timeout=10)
            newcomer = system.new_session()
            refusal: list[dict[str, Any]] = []
            late = socketio.AsyncClient(reconnection=False)

            @late.event
            async def connect_error(data: dict[str, Any]) -> None:
                refusal.append(data)

            with pytest.raises(socketio.exceptions.ConnectionError):
                await late.connect(system.base_url, auth={"session_id": newcomer["session_id"],
                                                          "token": newcomer["token"]},
                                   transports=["websocket"], wait_timeout=10)
        finally:
            client_redis.delete(slots)
            if saved:
                client_redis.zadd(slots, dict(saved))
        assert client.sio.connected  # the socket survives its handler's failure
        await client.disconnect()
        return ack, refusal[0]["data"]

    ack, refused = asyncio.run(scenario())
    assert _code(ack) == "INTERNAL" and refused["code"] == "INTERNAL"
    log = system.log("api")
    for trace_id in (ack["error"]["trace_id"], refused["trace_id"]):
        assert trace_id in log and "WRONGTYPE" in log
    assert "Task exception was never retrieved" not in log


def test_session_paging_is_bounded(system: System) -> None:
    base = f"{system.base_url}/api/v1/sessions"
    for params in ({"offset": 2**63}, {"offset": -1}, {"limit": 2**63}, {"limit": 0}):
        response = httpx.get(base, params=params, headers=system.auth, timeout=10)
        assert response.status_code == 422, (params, response.text)
        detail = response.json()["detail"]
        assert detail["code"] and detail["message"], detail
    assert httpx.get(base, params={"offset": 10**9}, headers=system.auth, timeout=10).json() == []
