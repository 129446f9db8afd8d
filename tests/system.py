"""A whole AVATAR system for tests: the real API and real Celery workers as subprocesses,
on the machine's real Redis, a real database and local storage in a temporary directory.

Nothing here is mocked; each test run gets its own Redis database number and Socket.IO
channel so parallel runs and a developer's ``make up`` do not see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import socketio

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class System:
    data_dir: Path
    env: dict[str, str]
    port: int
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["AVATAR_REDIS_URL"])

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args], env=self.env, cwd=REPO,
            capture_output=True, text=True, timeout=timeout, check=True,
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", *args], env=self.env, cwd=REPO,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_api(self) -> None:
        self._spawn("api", ["api", "--port", str(self.port)])
        wait_until(lambda: httpx.get(f"{self.base_url}/api/v1/health", timeout=5).status_code < 500,
                   60, "the API to answer")

    def start_worker(self, lane: str, *, name: str | None = None, concurrency: int | None = None) -> str:
        name = name or lane
        args = ["worker", "--lane", lane, "--loglevel", "INFO"]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        self._spawn(f"worker-{name}", args)
        return name

    def wait_for_lanes(self, *lanes: str, timeout: float = 90) -> dict[str, Any]:
        """Until every lane has a live worker, and each engine lane's worker has reported
        its engine (workers report as their processes start)."""
        def served() -> dict[str, Any] | None:
            body = httpx.get(f"{self.base_url}/api/v1/health", timeout=10).json()
            ok = all(body["lanes"].get(lane, {}).get("workers") for lane in lanes)
            reported = all(body["engines"][lane]["reported"] for lane in lanes if lane in body["engines"])
            return body if ok and reported else None

        return wait_until(served, timeout, f"workers on {lanes}", interval=0.5)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def new_session(self) -> dict[str, Any]:
        response = httpx.post(f"{self.base_url}/api/v1/sessions", timeout=10)
        response.raise_for_status()
        return response.json()


class EventClient:
    """A python-socketio client over a real websocket that records every event."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((time.monotonic(), event, data))

    async def connect(self, auth: dict[str, Any] | None) -> None:
        await self.sio.connect(self.base_url, auth=auth, transports=["websocket"], wait_timeout=10)

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    def named(self, event: str) -> list[Any]:
        return [data for _, name, data in self.events if name == event]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.05)
        seen = [name for _, name, _ in self.events]
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}; events seen: {seen}")
