"""Admission slots that cannot leak, on the real API over real websockets: a client sending
Socket.IO's reserved names as events frees nothing and takes nothing, a slot goes with its
socket, and the slots of an API killed with SIGKILL lapse within seconds of its heartbeat.

The reserved names are sent by :class:`RawSocket`, which speaks Engine.IO v4 / Socket.IO v5
frames itself over a ``websockets`` connection: python-socketio's client is too well-behaved
to send them the way a hostile client would."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import make_system
from tests.system import EventClient, System

MAX_ACTIVE = 2
HEARTBEAT_S = 2  # idle timeout stays 600 s: only the heartbeat can free a dead API's slots


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("admission-leaks"), "admission", tiny_models_dir,
        AVATAR_MAX_ACTIVE_SESSIONS=str(MAX_ACTIVE), AVATAR_ADMISSION_HEARTBEAT_S=str(HEARTBEAT_S),
    )
    try:
        system.start_api()
        yield system
    finally:
        system.stop_all()


class RawSocket:
    """One Socket.IO connection in hand-written frames: ``40{auth}`` to connect,
    ``42<id>[event, ...args]`` to emit with an ack id, ``43<id>[...]`` the server's ack."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, system: System, session: dict[str, Any]) -> RawSocket:
        url = system.base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        raw = cls(await connect(url))
        await raw.wait(lambda f: f.startswith("0{"), "the Engine.IO open packet")
        await raw.ws.send("40" + json.dumps({"session_id": session["session_id"], "token": session["token"]}))
        reply = await raw.wait(lambda f: f.startswith(("40", "44")), "the Socket.IO connect reply")
        assert reply.startswith("40{"), f"refused: {reply}"
        return raw

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame == "2":  # Engine.IO ping: answer, or the server drops us
                await self.ws.send("3")
            self.frames.append(str(frame))

    async def wait(self, match: Any, what: str, timeout: float = 10) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for frame in self.frames:
                if match(frame):
                    return frame
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no {what} within {timeout}s; frames: {self.frames}")

    async def call(self, ack_id: int, *event_and_args: Any) -> Any:
        await self.ws.send(f"42{ack_id}" + json.dumps(list(event_and_args)))
        frame = await self.wait(lambda f: f.startswith(f"43{ack_id}["), f"the ack of {event_and_args[0]!r}")
        return json.loads(frame[len(f"43{ack_id}"):])

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def _connect(system: System, session: dict[str, Any]) -> tuple[EventClient | None, dict[str, Any] | None]:
    """A python-socketio client of ``session``, or the server's reason for refusing it."""
    client = EventClient(system.base_url)
    refusal: list[dict[str, Any]] = []

    @client.sio.event
    async def connect_error(data: dict[str, Any]) -> None:
        refusal.append(data)

    try:
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
    except socketio.exceptions.ConnectionError:
        return None, (refusal[0]["data"] if refusal else {"code": "?"})
    return client, None


async def _admitted_within(system: System, session: dict[str, Any], timeout: float) -> EventClient:
    """Connect ``session`` as soon as a slot is free (polling the way a refused client
    retries); fail after ``timeout`` with the last refusal."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        client, refused = await _connect(system, session)
        if client is not None:
            return client
        assert refused is not None and refused["code"] == "BUSY", refused
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still refused after {timeout}s: {refused}")
        await asyncio.sleep(0.5)


def test_reserved_names_sent_as_events_are_refused_and_move_no_slot(system: System) -> None:
    async def scenario() -> None:
        alice, bob, carol = (system.new_session() for _ in range(3))
        raw = await RawSocket.open(system, alice)
        auth = {"session_id": alice["session_id"], "token": alice["token"]}
        for ack_id, frame in enumerate([
            ["disconnect"], ["disconnect", "client namespace disconnect"], ["connect", {}, auth], ["connect", auth],
            ["connect_error"], ["disconnecting"], ["newListener"], ["*"], ["*", "user_message", {"text": "hi"}],
        ], start=1):
            ack = await raw.call(ack_id, *frame)
            assert len(ack) == 1 and ack[0]["ok"] is False, (frame, ack)
            error = ack[0]["error"]
            assert error["code"] == "BAD_REQUEST" and "reserved" in error["message"], (frame, error)
            assert error["trace_id"], error
        await raw.wait(lambda f: f.startswith('42["error"'), "the error events")
        # The socket is still open and served.
        assert (await raw.call(99, "no-such-event"))[0]["error"]["code"] == "UNKNOWN_EVENT"

        # Alice's "disconnect" freed nothing and her "connect"s took nothing more: she holds
        # one slot of two, so bob gets the other and carol is told the system is busy.
        bob_client, refused = await _connect(system, bob)
        assert bob_client is not None, refused
        carol_client, refused = await _connect(system, carol)
        assert carol_client is None and refused is not None and refused["code"] == "BUSY", refused

        # Her slot goes with her socket, at once (not after the idle timeout).
        await raw.close()
        carol_client = await _admitted_within(system, carol, timeout=30)
        await carol_client.disconnect()
        await bob_client.disconnect()

    asyncio.run(scenario())


def test_an_api_killed_with_sigkill_leaks_no_slot(system: System) -> None:
    async def fill_and_crash() -> None:
        sessions = [system.new_session() for _ in range(MAX_ACTIVE + 1)]
        clients = []
        for session in sessions[:MAX_ACTIVE]:
            client, refused = await _connect(system, session)
            assert client is not None, refused
            clients.append(client)
        client, refused = await _connect(system, sessions[-1])
        assert client is None and refused is not None and refused["code"] == "BUSY", refused
        system.stop("api", signal.SIGKILL)  # no disconnect handler runs: the slots stay behind
        for client in clients:
            await client.disconnect()

    async def after_restart() -> None:
        # The dead API renews nothing: its sockets' slots lapse within the heartbeat, while
        # the idle timeout (600 s) would have kept them.
        clients = [await _admitted_within(system, system.new_session(), timeout=60) for _ in range(MAX_ACTIVE)]
        for client in clients:
            await client.disconnect()

    asyncio.run(fill_and_crash())
    system.start_api()
    asyncio.run(after_restart())
    assert "Traceback" not in system.log("api")
