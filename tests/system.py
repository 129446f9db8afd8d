"""A whole AVATAR system for tests: the real API and real Celery workers as subprocesses,
on the machine's real Redis, with one of two stacks behind them (``System.stack``):

- ``sqlite``: a SQLite file and local storage in a temporary directory;
- ``postgres``: a fresh database on the real PostgreSQL and S3 storage (moto's S3 server,
  standing in for MinIO, spoken to by the real ``minio`` client).

Nothing here is mocked; each test run gets its own Redis database number and Socket.IO
channel so parallel runs and a developer's ``make up`` do not see each other's events.
Tests read what a system stored through :meth:`System.db_engine` and
:meth:`System.storage`, so the same assertions hold on either stack.
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
from sqlalchemy import Engine

from avatar.db.engine import make_engine
from avatar.settings import Settings
from avatar.storage import Storage, get_storage

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
    stack: str = "sqlite"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Run by stop_all once every process is gone (drop the PostgreSQL database).
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    _auth: dict[str, str] = field(default_factory=dict, repr=False)  # see `auth`

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["AVATAR_REDIS_URL"])

    @property
    def database_url(self) -> str:
        return self.env.get("AVATAR_DATABASE_URL") or f"sqlite:///{(self.data_dir / 'avatar.db').as_posix()}"

    def db_engine(self) -> Engine:
        """An engine on the system's own database (dispose it when done)."""
        return make_engine(self.database_url)

    def storage(self) -> Storage:
        """The system's storage, built from the settings its processes run with."""
        env = self.env
        return get_storage(Settings(
            data_dir=self.data_dir, secret_key=env["AVATAR_SECRET_KEY"], public_base_url=self.base_url,
            storage_backend=env.get("AVATAR_STORAGE_BACKEND", "local"),
            minio_endpoint=env.get("AVATAR_MINIO_ENDPOINT", "127.0.0.1:9000"),
            minio_access_key=env.get("AVATAR_MINIO_ACCESS_KEY", "minioadmin"),
            minio_secret_key=env.get("AVATAR_MINIO_SECRET_KEY", "minioadmin"),
            minio_bucket=env.get("AVATAR_MINIO_BUCKET", "avatar-audio"),
        ))

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args], env=self.env, cwd=REPO,
            capture_output=True, text=True, timeout=timeout, check=True,
        )

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group, logging to ``log_dir/NAME.log``."""
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv, env={**self.env, **(env or {})}, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None, python: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        return self.spawn(name, [str(python or sys.executable), "-m", "cli", *args], env)

    def start_api(self) -> None:
        self._spawn("api", ["api", "--port", str(self.port)])
        wait_until(lambda: httpx.get(f"{self.base_url}/api/v1/health", timeout=5).status_code < 500,
                   60, "the API to answer")

    def start_worker(
        self, lane: str, *, name: str | None = None, concurrency: int | None = None,
        env: dict[str, str] | None = None, python: Path | None = None,
    ) -> str:
        """``env``: variables for this worker only, over the system's; ``python``: the
        interpreter to run it with (an engine environment's, see ``engine_env``)."""
        name = name or lane
        args = ["worker", "--lane", lane, "--loglevel", "INFO"]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        self._spawn(f"worker-{name}", args, env, python)
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
        # Newest first: the workers and the API before the storage server they write to.
        for name in reversed(list(self.procs)):
            self.stop(name)
        while self.cleanups:
            self.cleanups.pop()()

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def new_owner(self) -> dict[str, str]:
        """A new owner's ``Authorization`` header (``POST /api/v1/owners``), as a browser keeps it."""
        response = httpx.post(f"{self.base_url}/api/v1/owners", timeout=10)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['owner_token']}"}

    @property
    def auth(self) -> dict[str, str]:
        """The headers of this system's own owner (made on first use): every REST call of a
        test that plays one user sends them."""
        if not self._auth:
            self._auth = self.new_owner()
        return self._auth

    @property
    def operator_auth(self) -> dict[str, str]:
        """The operator's headers (the system must be made with AVATAR_OPERATOR_TOKEN)."""
        return {"Authorization": f"Bearer {self.env['AVATAR_OPERATOR_TOKEN']}"}

    def upload_voice(self, sample: Path, *, name: str, transcript: str = "", timeout: float = 300) -> str:
        """Upload ``sample`` as this system's owner's voice and wait until its analysis made it
        ready; its profile id."""
        response = httpx.post(
            f"{self.base_url}/api/v1/voice-profiles", files={"file": (sample.name, sample.read_bytes())},
            data={"name": name, "transcript": transcript}, headers=self.auth, timeout=120,
        )
        assert response.status_code == 201, response.text
        profile_id = response.json()["profile_id"]

        def analysed() -> str | None:
            body = httpx.get(f"{self.base_url}/api/v1/voice-profiles/{profile_id}", headers=self.auth,
                             timeout=10).json()
            return None if body["status"] == "processing" else body["status"]

        assert wait_until(analysed, timeout, "the voice analysis", interval=0.5) == "ready"
        return str(profile_id)

    def new_session(self, auth: dict[str, str] | None = None) -> dict[str, Any]:
        """A session of ``auth``'s owner (default: this system's own owner)."""
        response = httpx.post(f"{self.base_url}/api/v1/sessions", headers=auth or self.auth, timeout=10)
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
