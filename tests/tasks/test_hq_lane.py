"""The HQ lane on real workers: a session in ``hq`` mode is spoken through the single HQ
slot; a CUDA out-of-memory error degrades each sentence to the fast engine, tells the
session ``VRAM_EXHAUSTED`` and leaves the worker alive. On the fast tier with no CPU
fallback configured, out of memory ends each sentence in ``VRAM_EXHAUSTED``, the turn in
error, and the worker lives on (the fallback itself runs in tests/workers/test_f5_turn.py).

There is no GPU here. For the shared slot the HQ engine is espeak-ng, whose every run the HQ
worker makes through a wrapper that writes its real start and end times around the real
binary (``_timed_espeak``): that no two HQ syntheses overlap is read from those times. For
the OOM case the HQ engine is the deterministic benchmark engine raising torch's real
``torch.cuda.OutOfMemoryError`` type (AVATAR_BENCH_TTS_FAIL=oom).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from avatar.db import SynthesizedAudio
from tests.conftest import make_system
from tests.system import EventClient, System

REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度。"


def _timed_espeak(folder: Path) -> dict[str, str]:
    """The HQ worker's PATH, where ``espeak-ng`` is a wrapper around the real binary that
    appends ``start NS PID`` and ``end NS PID`` (wall clock, nanoseconds) to
    ``folder/hq-syntheses.log``; stdin and stdout pass through untouched."""
    real = shutil.which("espeak-ng")
    assert real, "espeak-ng is not installed (make test installs it)"
    (folder / "bin").mkdir(parents=True)
    log = folder / "hq-syntheses.log"
    wrapper = folder / "bin" / "espeak-ng"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "start $(date +%s%N) $$" >> "{log}"\n'
        f'"{real}" "$@"\nstatus=$?\n'
        f'echo "end $(date +%s%N) $$" >> "{log}"\n'
        "exit $status\n"
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def _syntheses(log: Path) -> list[tuple[int, int]]:
    """(start, end) in nanoseconds of every synthesis the wrapper saw, by start."""
    started: dict[str, int] = {}
    spans: list[tuple[int, int]] = []
    for line in log.read_text().splitlines():
        kind, ns, pid = line.split()
        if kind == "start":
            started[pid] = int(ns)
        else:
            spans.append((started.pop(pid), int(ns)))
    assert not started, f"syntheses that never ended: {started}"
    return sorted(spans)


def _system(tmp: Path, kind: str, models_dir: Path, *, hq_engine: str = "benchmark", fast_engine: str = "espeak",
            hq_worker_env: dict[str, str] | None = None, **env: str) -> System:
    # The fast tier is espeak-ng (real) unless asked: the injected fault targets the benchmark engine.
    system = make_system(
        tmp, kind, models_dir, AVATAR_LLM_ENGINE="benchmark", AVATAR_TTS_FAST_ENGINE=fast_engine,
        AVATAR_TTS_HQ_ENGINE=hq_engine, AVATAR_BENCH_REPLY=REPLY, **env,
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast")
        # Two processes, still one HQ job at a time.
        system.start_worker("tts_hq", concurrency=2, env=hq_worker_env)
        system.wait_for_lanes("llm", "tts_fast", "tts_hq")
    except BaseException:
        system.stop_all()
        raise
    return system


@pytest.fixture(scope="module")
def hq_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("hq")
    system = _system(tmp, "hq", tiny_models_dir, hq_engine="espeak", hq_worker_env=_timed_espeak(tmp / "timed"))
    try:
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def oom_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = _system(tmp_path_factory.mktemp("oom"), "hq_oom", tiny_models_dir, AVATAR_BENCH_TTS_FAIL="oom")
    try:
        yield system
    finally:
        system.stop_all()


@pytest.fixture
def fast_oom_system(tmp_path: Path, tiny_models_dir: Path) -> Iterator[System]:
    system = _system(tmp_path, "fast_oom", tiny_models_dir, fast_engine="benchmark", AVATAR_BENCH_TTS_FAIL="oom",
                     AVATAR_TTS_OOM_FALLBACK_ENGINE="")
    try:
        yield system
    finally:
        system.stop_all()


async def _hq_turns(system: System, sessions: int, mode: str = "hq") -> list[tuple[EventClient, str]]:
    async def one() -> tuple[EventClient, str]:
        session = system.new_session()
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("set_tts_mode", {"mode": mode}, timeout=10)
        assert ack == {"ok": True, "mode": mode, "voice_profile_id": None}
        sent = await client.sio.call("user_message", {"text": "請說明天氣"}, timeout=10)
        assert sent["ok"], sent
        await client.wait_for(lambda: client.named("turn_audio_complete"), 120, f"the {mode} turn")
        await client.disconnect()
        return client, sent["turn_id"]

    return list(await asyncio.gather(*(one() for _ in range(sessions))))


def test_hq_sessions_share_the_single_slot_and_get_hq_audio(hq_system: System) -> None:
    results = asyncio.run(_hq_turns(hq_system, 2))
    hq_sentences = 0
    for client, _turn_id in results:
        chunks = client.named("audio_chunk")
        (complete,) = client.named("turn_complete")
        assert [c["seq"] for c in chunks] == list(range(complete["chunks"]))
        assert {c["mode"] for c in chunks} == {"hq"} and not client.named("error")
        assert {c["engine"] for c in chunks} == {"espeak"}
        hq_sentences += len(chunks)
    # Each HQ sentence was one real synthesis, and no two of them ran at the same time
    # (two sessions at once, two HQ processes: only the single slot keeps them apart).
    spans = _syntheses(hq_system.data_dir.parent / "timed" / "hq-syntheses.log")
    assert len(spans) == hq_sentences, spans
    for (_, first_end), (second_start, _) in zip(spans, spans[1:]):
        assert first_end <= second_start, f"two HQ syntheses overlapped: {spans}"
    health = httpx.get(f"{hq_system.base_url}/api/v1/health", timeout=10).json()
    assert health["scheduler"]["hq_slot"] is None, "the slot is released after the jobs"
    assert health["scheduler"]["hq_breaker"]["state"] == "closed"
    engine = hq_system.db_engine()
    with DBSession(engine) as db:
        keys = db.scalars(select(SynthesizedAudio.audio_url).where(
            SynthesizedAudio.turn_id == uuid.UUID(results[0][1]))).all()
        assert keys and all(key.startswith("synthesized/hq/") for key in keys)
    engine.dispose()


def test_cuda_oom_degrades_to_fast_and_the_worker_survives(oom_system: System) -> None:
    ((client, turn_id),) = asyncio.run(_hq_turns(oom_system, 1))
    (complete,) = client.named("turn_complete")
    chunks = client.named("audio_chunk")
    assert [c["seq"] for c in chunks] == list(range(complete["chunks"])), "order kept across the degrade"
    assert {c["mode"] for c in chunks} == {"fast"}
    errors = client.named("error")
    assert errors and {e["code"] for e in errors} == {"VRAM_EXHAUSTED"}
    assert errors[0]["message"] == "顯存不足，已降級至快速模式"
    turns = httpx.get(
        f"{oom_system.base_url}/api/v1/sessions/{_session_of(oom_system, turn_id)}/turns",
        headers=oom_system.auth, timeout=10,
    ).json()
    assert turns[0]["status"] == "completed"
    assert {a["mode"] for a in turns[0]["audio"]} == {"fast"}
    health = httpx.get(f"{oom_system.base_url}/api/v1/health", timeout=10).json()
    assert health["lanes"]["tts_hq"]["workers"], "the HQ worker survived"
    assert health["scheduler"]["hq_breaker"]["state"] == "closed", "OOM is not an engine fault"


def test_fast_tier_out_of_memory_without_a_fallback_fails_each_sentence_clearly(fast_oom_system: System) -> None:
    ((client, turn_id),) = asyncio.run(_hq_turns(fast_oom_system, 1, mode="fast"))
    assert not client.named("audio_chunk")
    errors = client.named("error")
    (complete,) = client.named("turn_complete")
    sentences = complete["chunks"]
    assert sentences >= 2, complete
    assert [e["code"] for e in errors] == ["VRAM_EXHAUSTED"] * sentences, errors
    assert sorted(e["seq"] for e in errors) == list(range(sentences))  # each sentence, in its place
    assert all("顯存不足" in e["message"] and "AVATAR_TTS_OOM_FALLBACK_ENGINE" in e["fix"] for e in errors)
    turns = httpx.get(
        f"{fast_oom_system.base_url}/api/v1/sessions/{_session_of(fast_oom_system, turn_id)}/turns",
        headers=fast_oom_system.auth, timeout=10,
    ).json()
    assert (turns[0]["status"], turns[0]["error_code"]) == ("error", "VRAM_EXHAUSTED"), turns[0]
    log = fast_oom_system.log("worker-tts_fast")
    assert log.count("out of GPU memory in fast synthesis (CUDA out of memory") == sentences
    health = httpx.get(f"{fast_oom_system.base_url}/api/v1/health", timeout=10).json()
    assert health["lanes"]["tts_fast"]["workers"], "the fast worker survived"


def _session_of(system: System, turn_id: str) -> str:
    from avatar.db import ConversationTurn

    engine = system.db_engine()
    with DBSession(engine) as db:
        turn = db.get(ConversationTurn, uuid.UUID(turn_id))
        assert turn is not None
        session_id = str(turn.session_id)
    engine.dispose()
    return session_id
