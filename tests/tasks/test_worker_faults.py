"""Faults on real workers: a worker process killed in the middle of a turn, and an engine
whose model is missing. The user sees a retried turn or a clear ``error``; other sessions
keep working; nothing is half-written.

The reply comes from the deterministic benchmark LLM (slowed down so the kill lands
mid-stream) and the benchmark TTS; everything else is real.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session as DBSession

from avatar.db import ConversationTurn, SynthesizedAudio
from tests.conftest import make_system
from tests.system import EventClient, System, wait_until

BENCH_REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"


@pytest.fixture(scope="module")
def slow_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("faults"), "faults", tiny_models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_TTS_FAST_ENGINE="benchmark",
        AVATAR_BENCH_TOKEN_DELAY_MS="120", AVATAR_BENCH_REPLY=BENCH_REPLY,
    )
    try:
        system.start_api()
        system.start_worker("llm", concurrency=2)
        system.start_worker("tts_fast", concurrency=2)
        system.wait_for_lanes("llm", "tts_fast")
        yield system
    finally:
        system.stop_all()


def _pool_children(parent_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent_pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _worker_child_running_turn(system: System) -> int:
    """The pool process of the llm worker that is executing right now (it holds the turn)."""
    from celery import Celery

    app = Celery("inspect")
    app.config_from_object("celeryconfig")
    app.conf.broker_url = system.env["AVATAR_REDIS_URL"]

    def active_pid() -> int | None:
        for tasks in (app.control.inspect(timeout=1).active() or {}).values():
            for task in tasks:
                if task["name"] == "avatar.llm.generate_reply" and task.get("worker_pid"):
                    return int(task["worker_pid"])
        return None

    return wait_until(active_pid, 20, "the reply task to be active")


def test_killed_worker_mid_turn_is_retried_and_other_sessions_keep_working(slow_system: System) -> None:
    async def scenario() -> tuple[EventClient, EventClient, str, str]:
        alice_session = slow_system.new_session()
        bob_session = slow_system.new_session()
        alice, bob = EventClient(slow_system.base_url), EventClient(slow_system.base_url)
        await alice.connect({"session_id": alice_session["session_id"], "token": alice_session["token"]})
        await bob.connect({"session_id": bob_session["session_id"], "token": bob_session["token"]})

        ack = await alice.sio.call("user_message", {"text": "請說明今天的天氣。"}, timeout=10)
        assert ack["ok"], ack
        await alice.wait_for(lambda: len(alice.named("llm_token")) >= 3, 30, "a few tokens")
        victim = await asyncio.to_thread(_worker_child_running_turn, slow_system)
        os.kill(victim, signal.SIGKILL)  # the pool process dies mid-stream, as on an OOM kill

        # Meanwhile another session is served normally.
        bob_ack = await bob.sio.call("user_message", {"text": "你好"}, timeout=10)
        assert bob_ack["ok"], bob_ack

        await alice.wait_for(lambda: alice.named("turn_audio_complete"), 120, "alice's retried turn")
        await bob.wait_for(lambda: bob.named("turn_audio_complete"), 120, "bob's turn")
        await alice.disconnect()
        await bob.disconnect()
        return alice, bob, ack["turn_id"], bob_ack["turn_id"]

    alice, bob, turn_id, bob_turn = asyncio.run(scenario())

    # The broker redelivered the job (acks_late + reject_on_worker_lost); the browser was
    # told to discard the partial reply, then received the whole reply once.
    restarted = alice.named("turn_restarted")
    assert restarted and restarted[0]["turn_id"] == turn_id
    names = [name for _, name, _ in alice.events]
    after_restart = names[names.index("turn_restarted"):]
    tokens_after = [data["token"] for _, name, data in alice.events[names.index("turn_restarted"):] if name == "llm_token"]
    assert "".join(tokens_after) == BENCH_REPLY
    (complete,) = alice.named("turn_complete")
    assert complete["text"] == BENCH_REPLY
    assert "turn_complete" in after_restart
    seqs = [c["seq"] for c in alice.named("audio_chunk")]
    assert sorted(set(seqs)) == list(range(complete["chunks"]))

    assert bob.named("turn_complete")[0]["turn_id"] == bob_turn and not bob.named("error")

    engine = create_engine(f"sqlite:///{slow_system.data_dir / 'avatar.db'}")
    with DBSession(engine) as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        assert turn is not None and turn.status == "completed" and turn.ai_response == BENCH_REPLY
        stored = db.scalar(
            select(func.count()).select_from(SynthesizedAudio).where(SynthesizedAudio.turn_id == turn.turn_id)
        )
        assert stored == complete["chunks"], "each sentence stored exactly once"
    engine.dispose()


@pytest.fixture(scope="module")
def system_without_weights(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    """The cpu profile's in-process LLM pointed at a folder with no weights."""
    tmp = tmp_path_factory.mktemp("noweights")
    system = make_system(
        tmp, "noweights", tiny_models_dir, AVATAR_PROFILE="cpu", AVATAR_LLM_MODEL=str(tmp / "missing-model"),
    )
    try:
        system.start_api()
        system.start_worker("llm", concurrency=1)
        system.wait_for_lanes("llm")
        yield system
    finally:
        system.stop_all()


def test_missing_model_gives_error_naming_the_fix_and_marks_turn(system_without_weights: System) -> None:
    system = system_without_weights
    health = httpx.get(f"{system.base_url}/api/v1/health", timeout=10).json()
    llm = health["engines"]["llm"]
    assert llm["available"] is False and "avatar models download llm" in llm["fix"]

    async def scenario() -> tuple[EventClient, str]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("user_message", {"text": "你好"}, timeout=10)
        assert ack["ok"], ack
        await client.wait_for(lambda: client.named("error"), 60, "an error event")
        await client.disconnect()
        return client, ack["turn_id"]

    client, turn_id = asyncio.run(scenario())
    (error,) = client.named("error")
    assert error["code"] == "ENGINE_UNAVAILABLE"
    assert "avatar models download llm" in error["fix"]
    assert error["turn_id"] == turn_id and error["trace_id"]
    engine = create_engine(f"sqlite:///{system.data_dir / 'avatar.db'}")
    with DBSession(engine) as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        assert turn is not None and turn.status == "error" and turn.error_code == "ENGINE_UNAVAILABLE"
        assert turn.ai_response == ""
    engine.dispose()
