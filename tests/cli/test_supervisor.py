"""``avatar up`` under supervisord, for real: the API, one worker per lane and Flower on the
``tiny`` profile in a temporary data directory, on this machine's Redis.

A process killed with SIGKILL comes back by itself (a new pid, health green again); the turn
that was in flight when the API died finishes on the workers, and the client that connects
again learns it through ``resume``; the chat page in Chromium reconnects by itself and shows
that reply (``web/e2e/reconnect.mjs``). The secrets are generated once, kept 0600 and used (the
session token is signed with the generated key, Flower refuses its old default password).
``avatar down`` leaves no process behind.

The reply comes from the deterministic benchmark LLM, slowed down so that the kill lands in
the middle of the turn, and the benchmark TTS; everything else is real.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dotenv import dotenv_values
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from api.security import issue_session_token
from avatar.db import ConversationTurn
from avatar.settings import Settings
from cli import launcher
from tests.conftest import make_system
from tests.system import REPO, EventClient, System, free_port, wait_until

pytestmark = pytest.mark.slow

BENCH_REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"
WEB = REPO / "web"
GENERATED = ("AVATAR_SECRET_KEY", "AVATAR_FLOWER_PASSWORD", "AVATAR_OPERATOR_TOKEN")


@dataclass
class Stack:
    system: System
    cwd: Path  # where `avatar up` runs: no .env of the developer's there
    flower_port: int
    first_up: subprocess.CompletedProcess[str]

    @property
    def settings(self) -> Settings:
        """What the CLI sees (the generated secrets included): for supervisord's socket."""
        return Settings(data_dir=self.system.data_dir)

    @property
    def secrets_file(self) -> Path:
        return self.system.data_dir / "secrets.env"

    def avatar(self, *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=self.system.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)

    def pid(self, name: str) -> int:
        info = {p["name"]: p for p in launcher.processes(self.settings)}[name]
        assert info["statename"] == "RUNNING", info
        return int(info["pid"])

    def wait_restarted(self, name: str, old_pid: int) -> int:
        def restarted() -> int | None:
            info = {p["name"]: p for p in launcher.processes(self.settings)}.get(name, {})
            return int(info["pid"]) if info.get("statename") == "RUNNING" and info["pid"] != old_pid else None

        return wait_until(restarted, 90, f"supervisord to restart {name}", interval=0.5)

    def wait_healthy(self) -> dict[str, Any]:
        def green() -> dict[str, Any] | None:
            body = httpx.get(f"{self.system.base_url}/api/v1/health", timeout=10).json()
            return body if body.get("status") == "ok" else None

        return wait_until(green, 120, "a green /api/v1/health", interval=0.5)


def processes_of(data_dir: Path) -> list[int]:
    """Every live process started for this data directory (its environment says so)."""
    marker = f"AVATAR_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or a zombie
            continue
    return found


def cli_processes(data_dir: Path, *args: str) -> list[int]:
    wanted = ["-m", "cli", *args]
    matching = []
    for pid in processes_of(data_dir):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[1:-1]
        except OSError:
            continue
        if argv == wanted:
            matching.append(pid)
    return matching


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("supervisor")
    flower_port = free_port()
    system = make_system(
        tmp, "supervisor", tiny_models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_TTS_FAST_ENGINE="benchmark",
        AVATAR_BENCH_TOKEN_DELAY_MS="300", AVATAR_BENCH_REPLY=BENCH_REPLY,
        AVATAR_FLOWER_PORT=str(flower_port),
    )
    for name in GENERATED:  # nothing configured: `avatar up` must generate them
        system.env.pop(name, None)
    cwd = tmp / "cwd"
    cwd.mkdir()
    stack = Stack(system=system, cwd=cwd, flower_port=flower_port, first_up=None)  # type: ignore[arg-type]
    try:
        stack.first_up = stack.avatar("up", "--timeout", "240")
        assert stack.first_up.returncode == 0, stack.first_up.stdout + stack.first_up.stderr
        yield stack
    finally:
        stack.avatar("down", timeout=120)
        for pid in processes_of(system.data_dir):  # whatever a failed test left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_up_generates_secrets_once_and_everything_uses_them(stack: Stack) -> None:
    out = stack.first_up.stdout
    secrets = dotenv_values(stack.secrets_file)
    assert set(secrets) == set(GENERATED)
    assert stat.S_IMODE(stack.secrets_file.stat().st_mode) == 0o600
    # printed once, with where they are kept; the summary never shows a default password
    assert f"kept in {stack.secrets_file}" in out
    assert all(f"{name}={secrets[name]}" in out for name in GENERATED)
    assert "'avatar'" not in out and "dev-secret-change-me" not in out
    assert f"password AVATAR_FLOWER_PASSWORD in {stack.secrets_file}" in out
    assert "crashed processes restart" in out

    # The API signs session tokens with the generated key, and takes the generated operator token.
    session = stack.system.new_session()
    signer = Settings(secret_key=secrets["AVATAR_SECRET_KEY"])
    assert session["token"] == issue_session_token(signer, session["session_id"])
    operator = {"Authorization": f"Bearer {secrets['AVATAR_OPERATOR_TOKEN']}"}
    everyone = httpx.get(f"{stack.system.base_url}/api/v1/sessions", headers=operator, timeout=10)
    assert everyone.status_code == 200 and session["session_id"] in [s["session_id"] for s in everyone.json()]
    # Flower takes the generated password and refuses its old default.
    flower = f"http://127.0.0.1:{stack.flower_port}/"
    wait_until(lambda: httpx.get(flower, auth=("admin", secrets["AVATAR_FLOWER_PASSWORD"]), timeout=5)
               .status_code == 200, 60, "Flower with the generated password")
    assert httpx.get(flower, auth=("admin", "avatar"), timeout=5).status_code == 401

    # A second `avatar up` while everything runs: the same secrets, no second process.
    api_pid = stack.pid("api")
    again = stack.avatar("up", "--timeout", "120")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "supervisord already running" in again.stdout and "generated secrets" not in again.stdout
    assert dotenv_values(stack.secrets_file) == secrets
    assert stack.pid("api") == api_pid
    assert cli_processes(stack.system.data_dir, "api") == [api_pid]
    assert len(cli_processes(stack.system.data_dir, "flower")) == 1

    status = stack.avatar("status")
    assert "supervisord running" in status.stdout and "health: ok" in status.stdout
    for name in ("api", "flower", "worker-llm", "worker-batch"):
        assert f"{name} " in status.stdout


def test_killed_api_comes_back_and_the_client_gets_the_turn_that_finished_meanwhile(stack: Stack) -> None:
    system = stack.system
    session = system.new_session()
    auth = {"session_id": session["session_id"], "token": session["token"]}

    async def mid_turn() -> str:
        client = EventClient(system.base_url)
        await client.connect(auth)
        ack = await client.sio.call("user_message", {"text": "請說明今天的天氣。"}, timeout=10)
        assert ack["ok"], ack
        await client.wait_for(lambda: client.named("llm_token"), 60, "the first token")
        os.kill(stack.pid("api"), signal.SIGKILL)  # the API dies in the middle of the reply
        await client.wait_for(lambda: not client.sio.connected, 30, "the socket to drop")
        assert not client.named("turn_audio_complete")
        return ack["turn_id"]

    old_pid = stack.pid("api")
    turn_id = asyncio.run(mid_turn())

    # The workers finish the turn without the API and without the client.
    engine = system.db_engine()
    try:
        def stored() -> ConversationTurn | None:
            with DBSession(engine) as db:
                turn = db.scalar(select(ConversationTurn).where(ConversationTurn.turn_id == uuid.UUID(turn_id)))
                return turn if turn is not None and turn.status == "completed" else None

        wait_until(stored, 120, "the turn to complete in the database", interval=0.5)
    finally:
        engine.dispose()
    # supervisord brought the API back: a new process, health green, nobody ran anything.
    assert stack.wait_restarted("api", old_pid) != old_pid
    stack.wait_healthy()

    async def reconnect() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        client = EventClient(system.base_url)
        await client.connect(auth)  # the same token: the new process signs with the same key
        try:
            everything = await client.sio.call("resume", {}, timeout=10)
            newer = await client.sio.call("resume", {"since_turn": 1}, timeout=10)
            bad = await client.sio.call("resume", {"since_turn": -1}, timeout=10)
        finally:
            await client.disconnect()
        return everything, newer, bad

    everything, newer, bad = asyncio.run(reconnect())
    assert everything["ok"] and everything["session_id"] == session["session_id"]
    [turn] = everything["turns"]
    assert turn["turn_id"] == turn_id and turn["status"] == "completed"
    assert turn["ai_response"] == BENCH_REPLY and turn["user_input"] == "請說明今天的天氣。"
    assert turn["audio"] and all(a["mode"] == "fast" for a in turn["audio"])
    wav = httpx.get(turn["audio"][0]["url"], timeout=10)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    assert newer == {"ok": True, "session_id": session["session_id"], "turns": []}
    assert bad["ok"] is False and bad["error"]["code"] == "BAD_REQUEST"
    # The page reads the same rows (GET /turns, what it fetches after every reconnect).
    listed = httpx.get(f"{system.base_url}/api/v1/sessions/{session['session_id']}/turns",
                       headers=system.auth, timeout=10).json()
    assert [t["turn_id"] for t in listed] == [turn_id] and listed[0]["ai_response"] == BENCH_REPLY


def test_the_page_reconnects_by_itself_and_shows_the_reply_that_finished_meanwhile(stack: Stack) -> None:
    """The same crash seen from the chat page in Chromium (web/e2e/reconnect.mjs)."""
    chromium = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists() or shutil.which("node") is None:
        pytest.skip(f"the page check needs Chromium at {chromium} and Node.js (`make test` installs both)")
    if not (WEB / "dist" / "index.html").is_file() or not (WEB / "node_modules" / "playwright-core").is_dir():
        pytest.skip("the page is not built: run `make install` (npm ci and the Vite build of web/dist)")
    env = {**os.environ, "AVATAR_E2E_BASE": stack.system.base_url, "AVATAR_E2E_REPLY": BENCH_REPLY,
           "CHROMIUM": str(chromium)}
    old_pid = stack.pid("api")
    page = subprocess.Popen(["node", "e2e/reconnect.mjs"], cwd=WEB, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        said = []
        for line in page.stdout:  # type: ignore[union-attr]
            said.append(line)
            if line.strip() == "KILL":  # the reply is streaming into the page
                os.kill(old_pid, signal.SIGKILL)
                break
        said += page.communicate(timeout=240)[0].splitlines(keepends=True)
    finally:
        if page.poll() is None:
            page.kill()
            page.wait()
    output = "".join(said)
    assert page.returncode == 0, output
    assert "KILL" in output and "connected again" in output
    assert stack.wait_restarted("api", old_pid) != old_pid


def test_killed_worker_comes_back_and_serves_the_next_turn(stack: Stack) -> None:
    old_pid = stack.pid("worker-llm")
    os.kill(old_pid, signal.SIGKILL)  # the worker's main process, not a pool child
    stack.wait_restarted("worker-llm", old_pid)
    health = stack.wait_healthy()
    assert health["lanes"]["llm"]["workers"]

    session = stack.system.new_session()

    async def one_turn() -> EventClient:
        client = EventClient(stack.system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        try:
            ack = await client.sio.call("user_message", {"text": "你好"}, timeout=10)
            assert ack["ok"], ack
            await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the turn to finish")
        finally:
            await client.disconnect()
        return client

    client = asyncio.run(one_turn())
    assert client.named("turn_complete")[0]["text"] == BENCH_REPLY
    assert not client.named("error")


def test_down_stops_everything_and_the_secrets_stay(stack: Stack) -> None:
    secrets = dotenv_values(stack.secrets_file)
    down = stack.avatar("down", timeout=150)
    assert down.returncode == 0, down.stdout + down.stderr
    for name in ("api", "flower", "worker-llm", "worker-tts_hq"):
        assert f"stopped {name}" in down.stdout
    assert processes_of(stack.system.data_dir) == []
    assert not launcher.supervisor_running(stack.settings)
    assert "supervisord not running" in stack.avatar("status").stdout
    assert "nothing was running" in stack.avatar("down").stdout

    # The next start keeps them.
    kept = stack.avatar("secrets")
    assert kept.returncode == 0 and "generated" not in kept.stdout
    assert f"secrets kept in {stack.secrets_file}" in kept.stdout
    assert dotenv_values(stack.secrets_file) == secrets
