"""Admission control with real Socket.IO clients: five sessions are served, the sixth is
told the system is busy (with its place in line and when to retry), and gets in as soon as
a session ends; an idle session loses its slot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio

from tests.conftest import make_system
from tests.system import EventClient, System


@pytest.fixture(scope="module")
def five_slot_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("admission"), "admission", tiny_models_dir,
        AVATAR_MAX_ACTIVE_SESSIONS="5", AVATAR_SESSION_IDLE_TIMEOUT_S="6",
    )
    try:
        system.start_api()
        yield system
    finally:
        system.stop_all()


async def _try_connect(system: System, session: dict) -> tuple[EventClient | None, dict | None]:
    client = EventClient(system.base_url)
    refusal: list[dict] = []

    @client.sio.event
    async def connect_error(data: dict) -> None:
        refusal.append(data)

    try:
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
    except socketio.exceptions.ConnectionError:
        return None, refusal[0]["data"] if refusal else {"code": "?"}
    return client, None


async def _fill_five_slots(system: System, sessions: list[dict]) -> list[EventClient]:
    clients = []
    for session in sessions:
        client, refused = await _try_connect(system, session)
        assert client is not None, refused
        clients.append(client)
    return clients


def test_sixth_session_is_busy_until_one_ends(five_slot_system: System) -> None:
    async def scenario() -> None:
        sessions = [five_slot_system.new_session() for _ in range(6)]
        clients = await _fill_five_slots(five_slot_system, sessions[:5])

        client, refused = await _try_connect(five_slot_system, sessions[5])
        assert client is None and refused is not None
        assert refused["code"] == "BUSY"
        assert refused["position"] == 1 and refused["retry_after_s"] > 0
        assert "忙碌" in refused["message"]

        # A second tab of an admitted session shares its slot.
        second_tab, refused_tab = await _try_connect(five_slot_system, sessions[0])
        assert second_tab is not None, refused_tab
        await second_tab.disconnect()

        await clients[0].disconnect()  # the session ends: its slot frees
        await asyncio.sleep(0.3)
        client, refused = await _try_connect(five_slot_system, sessions[5])
        assert client is not None, refused
        for c in [*clients[1:], client]:
            await c.disconnect()

    asyncio.run(scenario())


def test_idle_session_loses_its_slot(five_slot_system: System) -> None:
    async def scenario() -> None:
        sessions = [five_slot_system.new_session() for _ in range(6)]
        clients = await _fill_five_slots(five_slot_system, sessions[:5])
        await asyncio.sleep(6.5)  # every admitted session is now idle past the 6 s timeout
        client, refused = await _try_connect(five_slot_system, sessions[5])
        assert client is not None, refused
        for c in [*clients, client]:
            await c.disconnect()

    asyncio.run(scenario())
