"""The whole ``tiny-gpu`` stack under ``avatar up``: the gpu profile's engines on CPU with tiny
random models of their real architectures, each speech lane's worker in its engine env.

``avatar models tiny`` (run under the profile) writes the models; ``avatar up`` starts, under
supervisord, the vLLM server (env ``vllm``), the API, the llm lane (``openai`` engine against
that server), ``tts_fast`` and ``batch_fast`` from env ``f5``, ``tts_hq`` and ``batch`` from
env ``cosyvoice`` (re-synthesis has a lane per tier: no env holds both TTS packages), asr
(faster-whisper, cpu), prosody and Flower. Nothing is mocked: there is no GPU here, so the
engines run on ``cpu`` and the VRAM budget books their declared footprints. The budget is
capped (``AVATAR_GPU_BUDGET_MB``) so that F5-TTS and CosyVoice do not fit together: each
turn's HQ rendering evicts F5 and the next turn's first sentence evicts CosyVoice.

Turns in mode ``both`` with an uploaded voice (transcript given): tokens stream from vLLM,
each sentence is spoken by F5-TTS, the whole turn is rendered again by CosyVoice
(``hq_audio_ready``), and ``synthesized_audios`` records which engine made each row. The
typed turns' time to first audio is printed (``-s``): tiny random models on CPU, a plumbing
figure, not a speed figure. ``avatar down`` stops everything, vLLM and its engine core too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from avatar import engine_envs
from avatar.db.models import SynthesizedAudio
from avatar.settings import Settings
from cli import launcher
from tests.cli.test_supervisor import processes_of
from tests.conftest import make_system
from tests.speech_audio import espeak_16k, stream_realtime, with_silences
from tests.system import EventClient, System, free_port, wait_until
from tests.voices import REFERENCE_TEXT, espeak_reference

# Past the suite's 300 s: the fixture generates the models and waits for vLLM (60-90 s) and
# the engines' first loads on two shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

TYPED_TURNS = 3  # time to first audio over this many typed turns
TIGHT_BUDGET_MB = 4000
LABEL = "tiny random models on CPU: a plumbing figure, not a speed figure"


@dataclass
class Stack:
    system: System
    cwd: Path
    up: subprocess.CompletedProcess[str]
    timings: dict[str, float]

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.system.data_dir)

    def avatar(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=self.system.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.system.base_url}/api/v1/health", timeout=10).json()


@pytest.fixture(scope="module")
def stack(engine_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for name in ("vllm", "f5", "cosyvoice"):
        engine_env(name)  # builds a missing env (a build failure fails the run)
    tmp = tmp_path_factory.mktemp("tiny-gpu")
    system = make_system(
        tmp, "cosyvoice_turn", tmp / "models", AVATAR_PROFILE="tiny-gpu",
        AVATAR_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1", AVATAR_FLOWER_PORT=str(free_port()),
        AVATAR_F5_NFE_STEPS="4",
        # F5-TTS books 1400 MiB, CosyVoice 3500 (gpu_scheduler/registry.py): one at a time.
        AVATAR_GPU_BUDGET_MB=str(TIGHT_BUDGET_MB),
        # Generous limits: on two shared cores the first job of each TTS lane imports its
        # package and loads the model, and the voice analysis can pass a minute.
        AVATAR_TTS_SOFT_TIME_LIMIT_S="240", AVATAR_TTS_TIME_LIMIT_S="300",
        AVATAR_PROSODY_SOFT_TIME_LIMIT_S="240", AVATAR_PROSODY_TIME_LIMIT_S="300",
    )
    cwd = tmp / "cwd"
    cwd.mkdir()
    stack = Stack(system=system, cwd=cwd, up=None, timings={})  # type: ignore[arg-type]
    try:
        started = time.monotonic()
        made = stack.avatar("models", "tiny", timeout=600)
        assert made.returncode == 0, made.stdout + made.stderr
        stack.timings["avatar models tiny"] = time.monotonic() - started
        started = time.monotonic()
        stack.up = stack.avatar("up", "--timeout", "600", timeout=900)
        stack.timings["avatar up"] = time.monotonic() - started
        assert stack.up.returncode == 0, stack.up.stdout + stack.up.stderr
        print(f"\n[tiny-gpu] {', '.join(f'{k}: {v:.0f} s' for k, v in stack.timings.items())}")
        yield stack
    finally:
        stack.avatar("down", timeout=300)
        for pid in processes_of(system.data_dir):  # whatever a failed test left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _python_of(stack: Stack, program: str) -> str:
    info = {p["name"]: p for p in launcher.processes(stack.settings)}[program]
    assert info["statename"] == "RUNNING", info
    return Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")[0].decode()


def test_each_lane_runs_from_its_env_and_health_shows_every_engine(stack: Stack) -> None:
    assert _python_of(stack, "worker-tts_fast") == str(engine_envs.python_of("f5"))
    assert _python_of(stack, "worker-tts_hq") == str(engine_envs.python_of("cosyvoice"))
    assert _python_of(stack, "worker-batch") == str(engine_envs.python_of("cosyvoice"))
    assert _python_of(stack, "worker-batch_fast") == str(engine_envs.python_of("f5"))
    assert _python_of(stack, "worker-llm") == sys.executable
    vllm = Path(f"/proc/{ {p['name']: p for p in launcher.processes(stack.settings)}['vllm']['pid'] }/cmdline")
    assert b"vllm.entrypoints.openai.api_server" in vllm.read_bytes().split(b"\0")

    health = stack.health()
    assert health["status"] == "ok" and health["profile"] == "tiny-gpu", health
    assert {name: env["built"] for name, env in health["engine_envs"].items()} == {
        "vllm": True, "f5": True, "cosyvoice": True}
    engines = {stage: (e["engine"], e["available"]) for stage, e in health["engines"].items()}
    assert engines == {"llm": ("openai", True), "tts_fast": ("f5", True), "tts_hq": ("cosyvoice", True),
                       "asr": ("faster_whisper", True)}, health["engines"]


# --- turns in mode both ----------------------------------------------------------------------

def _upload_voice(stack: Stack, tmp: Path) -> str:
    ref = espeak_reference(tmp / "ref.wav", variant="f2", pitch=60)
    return stack.system.upload_voice(ref, name="tiny-gpu 測試", transcript=REFERENCE_TEXT)

@dataclass
class Turn:
    turn_id: str
    events: list[tuple[float, str, Any]]
    first_audio_s: float | None  # user_message emitted -> first audio_chunk (typed turns)

    def named(self, event: str) -> list[Any]:
        return [d for _, name, d in self.events if name == event and (d or {}).get("turn_id") == self.turn_id]


async def _turns_in_mode_both(stack: Stack, voice_id: str, texts: list[str],
                              spoken: np.ndarray | None) -> list[Turn]:
    """Each typed text, then (with ``spoken``) one spoken turn, one after the other in one
    session; each waits for its HQ rendering before the next starts."""
    session = stack.system.new_session()
    client = EventClient(stack.system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    ack = await client.sio.call("set_tts_mode", {"mode": "both", "voice_profile_id": voice_id}, timeout=10)
    assert ack["ok"], ack
    turns = []

    async def finish(turn_id: str, sent_at: float | None) -> Turn:
        def mine(event: str) -> list[tuple[float, Any]]:
            return [(t, d) for t, name, d in client.events if name == event and (d or {}).get("turn_id") == turn_id]

        await client.wait_for(lambda: mine("hq_audio_ready") or mine("error") or client.named("error"), 600,
                              f"turn {turn_id}'s HQ rendering")
        first = mine("audio_chunk")
        return Turn(turn_id, list(client.events), first[0][0] - sent_at if first and sent_at else None)

    for text in texts:
        sent_at = time.monotonic()
        sent = await client.sio.call("user_message", {"text": text}, timeout=10)
        assert sent["ok"], sent
        turns.append(await finish(sent["turn_id"], sent_at))
    if spoken is not None:
        await stream_realtime(client.sio.emit, spoken)
        final = (await client.wait_for(lambda: client.named("transcription_final"), 120, "the final transcript"))[0]
        turns.append(await finish(final["turn_id"], None))
    await client.disconnect()
    return turns


def _rows(stack: Stack, turn_id: str) -> list[Any]:
    engine = stack.system.db_engine()
    try:
        with engine.connect() as db:
            query = sa.select(SynthesizedAudio).where(SynthesizedAudio.turn_id == uuid.UUID(turn_id))
            return db.execute(query.order_by(SynthesizedAudio.mode, SynthesizedAudio.seq)).all()
    finally:
        engine.dispose()


def _assert_spoken_by_both_engines(stack: Stack, turn: Turn, voice_id: str) -> None:
    errors = turn.named("error")
    assert not errors, errors
    # A random model may stop early: streamed means more than one delta.
    assert len(turn.named("llm_token")) >= 2, "tokens were not streamed from vLLM"
    chunks = turn.named("audio_chunk")
    assert chunks and {c["engine"] for c in chunks} == {"f5"} and {c["mode"] for c in chunks} == {"fast"}, chunks
    hq = turn.named("hq_audio_ready")
    assert len(hq) == 1 and hq[0]["duration_ms"] > 0, hq
    rows = _rows(stack, turn.turn_id)
    by_mode = {mode: [r for r in rows if r.mode == mode] for mode in ("fast", "hq")}
    assert {r.engine for r in by_mode["fast"]} == {"f5"} and len(by_mode["fast"]) == len(chunks), rows
    assert {r.engine for r in by_mode["hq"]} == {"cosyvoice"} and len(by_mode["hq"]) == len(by_mode["fast"]), rows
    assert {str(r.voice_profile_id) for r in rows} == {voice_id}
    assert all(r.duration_sec > 0 for r in rows)


def test_turns_in_mode_both_are_spoken_by_f5_then_cosyvoice_with_tokens_from_vllm(
    stack: Stack, tmp_path: Path,
) -> None:
    voice_id = _upload_voice(stack, tmp_path)
    spoken = with_silences([espeak_16k("今天天氣很好，我們去公園散步吧")], [1.0], lead_s=0.3).pcm
    texts = ["請說明天氣", "明天會下雨嗎", "推薦一個景點"][:TYPED_TURNS]
    turns = asyncio.run(_turns_in_mode_both(stack, voice_id, texts, spoken))
    for turn in turns:
        _assert_spoken_by_both_engines(stack, turn, voice_id)

    # Both engines went through the VRAM budget (their declared footprints, on cpu), which
    # never held them together: every turn loaded each again after evicting the other.
    (gpu,) = stack.health()["scheduler"]["gpus"].values()
    print(f"\n[tiny-gpu] VRAM budget after the turns: {gpu}")
    assert gpu["budget_mb"] == TIGHT_BUDGET_MB and gpu["peak_mb"] <= TIGHT_BUDGET_MB, gpu
    logs = {lane: (stack.settings.log_dir / f"worker-{lane}.log").read_text(errors="replace")
            for lane in ("tts_fast", "tts_hq")}
    loads = {lane: logs[lane].count(f"loaded {model} in") for lane, model in
             (("tts_fast", "f5-tts"), ("tts_hq", "cosyvoice3"))}
    assert loads["tts_fast"] >= len(turns) and loads["tts_hq"] >= len(turns), loads
    assert "dropped f5-tts: evicted" in logs["tts_fast"] and "dropped cosyvoice3: evicted" in logs["tts_hq"], loads

    first_audio = [t.first_audio_s for t in turns if t.first_audio_s is not None]
    assert len(first_audio) == len(texts)
    # The first turn's figure includes F5 loading its model on the lane's first job.
    print(f"[tiny-gpu] typed turn, user_message -> first audio_chunk ({LABEL}): "
          f"median {statistics.median(first_audio):.2f} s, all {[round(s, 2) for s in first_audio]} "
          f"(the first includes F5's model load; warm median {statistics.median(first_audio[1:]):.2f} s)")


def test_fast_resynthesis_runs_on_its_own_lane_in_the_f5_env(stack: Stack, tmp_path: Path) -> None:
    """Re-synthesis in mode fast goes to ``batch_fast``, whose worker runs from env ``f5``
    (the HQ lane's ``batch`` worker runs from env ``cosyvoice``, which has no F5-TTS)."""
    first = _upload_voice(stack, tmp_path)
    (turn,) = asyncio.run(_turns_in_mode_both(stack, first, ["請說明天氣"], None))
    other = stack.system.upload_voice(espeak_reference(tmp_path / "other.wav", variant="m1", pitch=30),
                                      name="另一個聲音", transcript=REFERENCE_TEXT)
    start = httpx.post(f"{stack.system.base_url}/api/v1/resynthesis", headers=stack.system.auth, timeout=10,
                       json={"since": "2000-01-01T00:00:00Z", "mode": "fast", "voice_profile_id": other})
    assert start.status_code == 202, start.text

    def finished() -> dict[str, Any] | None:
        state = httpx.get(f"{stack.system.base_url}{start.json()['status_url']}", headers=stack.system.auth,
                          timeout=10).json()
        return state if state["status"] == "completed" else None

    state = wait_until(finished, 600, "the fast re-synthesis")
    assert state["failed"] == 0 and state["done"] >= 1, state
    fast = [r for r in _rows(stack, turn.turn_id) if r.mode == "fast"]
    assert fast and {r.engine for r in fast} == {"f5"} and {str(r.voice_profile_id) for r in fast} == {other}, fast


def test_avatar_chat_speaks_with_f5_and_replaces_it_with_cosyvoice(stack: Stack, tmp_path: Path) -> None:
    """The issue's own check: `avatar chat` in mode both with a voice to clone."""
    ref = espeak_reference(tmp_path / "ref.wav", variant="f2", pitch=60)
    out = stack.avatar("chat", "請介紹一下台北", "--url", stack.system.base_url, "--mode", "both",
                       "--voice", str(ref), "--transcript", REFERENCE_TEXT, "--style", "happy", timeout=900)
    print(f"\n[tiny-gpu] avatar chat:\n{out.stdout[-1500:]}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "spoken by: f5; HQ rendering ready" in out.stdout, out.stdout
    assert "[HQ rendering ready:" in out.stdout and "[audio seq=0" in out.stdout


def test_down_stops_everything_vllm_included(stack: Stack) -> None:
    llm_url = stack.system.env["AVATAR_LLM_BASE_URL"]
    started = time.monotonic()
    down = stack.avatar("down", timeout=300)
    print(f"\n[tiny-gpu] avatar down: {time.monotonic() - started:.0f} s")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped vllm" in down.stdout and "stopped worker-tts_hq" in down.stdout, down.stdout
    assert processes_of(stack.system.data_dir) == [], "a process outlived `avatar down`"
    assert not launcher.supervisor_running(stack.settings)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{llm_url}/models", timeout=3)
