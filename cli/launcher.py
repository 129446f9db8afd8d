"""``avatar up`` / ``avatar down`` / ``avatar status``: the local process supervisor behind
``make up``. Starts the API, one worker per lane and Flower in the background (pid files
under ``var/run``, logs under ``var/log``), waits until ``/api/v1/health`` is green."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from avatar.domain import LANES
from avatar.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]


def services() -> list[Service]:
    return [
        Service("api", ("api",)),
        *(Service(f"worker-{lane}", ("worker", "--lane", lane)) for lane in LANES),
        Service("flower", ("flower",)),
    ]


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.data_dir / "run" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(settings: Settings, name: str) -> int | None:
    path = _pid_file(settings, name)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def start(settings: Settings, service: Service) -> int:
    pid = running_pid(settings, service.name)
    if pid is not None:
        return pid
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, service.name).parent.mkdir(parents=True, exist_ok=True)
    log = open(settings.log_dir / f"{service.name}.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *service.args],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: `down` stops workers and their children
    )
    _pid_file(settings, service.name).write_text(str(proc.pid))
    return proc.pid


def stop(settings: Settings, name: str, timeout: float = 20.0) -> bool:
    pid = running_pid(settings, name)
    _pid_file(settings, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def health(settings: Settings, timeout: float = 5.0) -> dict | None:
    url = f"http://{settings.api_host}:{settings.api_port}/api/v1/health"
    try:
        return httpx.get(url, timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return None


def wait_healthy(settings: Settings, timeout: float = 180.0) -> dict | None:
    deadline = time.monotonic() + timeout
    body: dict | None = None
    while time.monotonic() < deadline:
        body = health(settings)
        if body and body.get("status") == "ok":
            return body
        for service in services():
            if running_pid(settings, service.name) is None:
                raise RuntimeError(
                    f"{service.name} exited; see {settings.log_dir / (service.name + '.log')}"
                )
        time.sleep(1.0)
    return body


def summary(settings: Settings, body: dict | None) -> str:
    base = settings.resolved_public_base_url
    # The built-in default is in the README anyway; a password the operator chose is not echoed.
    default = type(settings).model_fields["flower_password"].default
    flower_password = (f"password {default!r}" if settings.flower_password == default
                       else "password from AVATAR_FLOWER_PASSWORD")
    lines = [
        f"AVATAR is up (profile: {settings.profile})",
        f"  chat page      {base}/",
        f"  API docs       {base}/docs",
        f"  health         {base}/api/v1/health",
        f"  metrics        {base}/api/v1/metrics",
        f"  Flower         http://{settings.api_host}:{settings.flower_port}/ "
        f"(user {settings.flower_user!r}, {flower_password})",
        f"  logs           {settings.log_dir}/",
    ]
    if body:
        for stage, engine in body.get("engines", {}).items():
            if not engine.get("available"):
                lines.append(
                    f"  ! {stage} engine {engine.get('engine')!r} unavailable: {engine.get('reason')}"
                    + (f" -> run: {engine['fix']}" if engine.get("fix") else "")
                )
    return "\n".join(lines)


def status_table(settings: Settings) -> str:
    rows = []
    for service in services():
        pid = running_pid(settings, service.name)
        rows.append(f"{service.name:18} {'running pid ' + str(pid) if pid else 'stopped'}")
    body = health(settings)
    rows.append("health: " + (json.dumps({"status": body.get("status")}) if body else "API not answering"))
    return "\n".join(rows)
