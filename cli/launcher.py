"""``avatar up`` / ``avatar down`` / ``avatar status``: the API, one worker per lane and Flower
under supervisord (the ``supervisor`` package), which restarts whichever of them crashes.

``up`` writes ``{data_dir}/run/supervisord.conf``, starts supervisord (its socket and pid file
beside the config, its own log and every program's output in ``{data_dir}/log/``) and waits
until ``/api/v1/health`` is green; a second ``up`` finds it running and starts nothing twice.
``down`` stops the programs and supervisord itself.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from supervisor.xmlrpc import SupervisorTransport

from avatar import engine_envs
from avatar.domain import LANES
from avatar.settings import Settings
from cli import vllm_server
from cli.secrets_file import LocalSecrets, env_name

# AF_UNIX paths are limited to 108 bytes; a deeper data_dir gets its socket in the temp dir.
_MAX_SOCKET_PATH = 100
# supervisord gives up on a program that dies this many times within `startsecs` of starting
# (FATAL); a process that ran longer is restarted however often it crashes.
START_RETRIES = 5
START_SECS = 3


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]
    priority: int  # supervisord starts low numbers first and stops them last
    stop_wait_s: int
    # True: SIGTERM goes to the whole process group. A Celery worker takes it in its main
    # process only: that is its warm shutdown (the pool finishes the jobs in hand), whereas a
    # prefork child that got SIGTERM itself would die mid-job. Past stop_wait_s supervisord
    # SIGKILLs the whole group either way (killasgroup), so no pool child outlives a stop.
    stop_as_group: bool
    python: str = sys.executable  # an engine env's python for a lane whose engine has one


# Long enough for a reply or a sentence in hand to finish; a longer job (an HQ render, a
# re-synthesis) is redelivered after the restart (acks_late, reject_on_worker_lost).
WORKER_STOP_WAIT_S = 60


# vLLM loads and profiles its model before it serves (about 70 s for the tiny one on CPU);
# its engine core is a child process, so it is stopped as a group.
VLLM_SERVICE = Service("vllm", ("engines", "vllm-server"), priority=5, stop_wait_s=30, stop_as_group=True)


def services(settings: Settings | None = None) -> list[Service]:
    """What supervisord runs; with ``settings.vllm_serve``, also the local vLLM server (first
    to start, last to stop)."""
    local_llm = [VLLM_SERVICE] if settings is not None and settings.vllm_serve else []
    return [
        *local_llm,
        Service("api", ("api",), priority=10, stop_wait_s=15, stop_as_group=True),
        *(Service(f"worker-{lane}", ("worker", "--lane", lane), priority=20,
                  stop_wait_s=WORKER_STOP_WAIT_S, stop_as_group=False, python=_python_of_lane(settings, lane))
          for lane in LANES),
        Service("flower", ("flower",), priority=30, stop_wait_s=10, stop_as_group=True),
    ]


def _python_of_lane(settings: Settings | None, lane: str) -> str:
    env = engine_envs.env_for_lane(settings, lane) if settings is not None else None
    return str(engine_envs.python_of(env)) if env else sys.executable


# --- where supervisord keeps its files ---------------------------------------------------------

def run_dir(settings: Settings) -> Path:
    return settings.data_dir / "run"


def config_path(settings: Settings) -> Path:
    return run_dir(settings) / "supervisord.conf"


def pid_path(settings: Settings) -> Path:
    return run_dir(settings) / "supervisord.pid"


def socket_path(settings: Settings) -> Path:
    path = (run_dir(settings) / "supervisor.sock").absolute()
    if len(str(path).encode()) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"avatar-supervisor-{digest}.sock"


def _quote(value: object) -> str:
    return str(value).replace("%", "%%")  # supervisord expands %(name)s in every value


def render_config(settings: Settings, cwd: Path | None = None) -> str:
    """supervisord's configuration: every program runs ``python -m cli ...`` from ``cwd``
    with the environment ``avatar up`` was started with (supervisord passes its own on)."""
    cwd = (cwd or Path.cwd()).absolute()
    log_dir = settings.log_dir.absolute()
    lines = [
        "; Written by `avatar up` on every start: edit the code (cli/launcher.py), not this file.",
        "[unix_http_server]",
        f"file = {_quote(socket_path(settings))}",
        "chmod = 0700",
        "",
        "[supervisord]",
        f"logfile = {_quote(log_dir / 'supervisord.log')}",
        f"pidfile = {_quote(pid_path(settings).absolute())}",
        f"childlogdir = {_quote(log_dir)}",
        f"directory = {_quote(cwd)}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = unix://{_quote(socket_path(settings))}",
    ]
    for service in services(settings):
        lines += [
            "",
            f"[program:{service.name}]",
            f"command = {_quote(shlex.join([service.python, '-m', 'cli', *service.args]))}",
            f"directory = {_quote(cwd)}",
            f"priority = {service.priority}",
            f"autostart = {str(service.name not in _started_later(settings)).lower()}",
            "autorestart = true",
            f"startsecs = {START_SECS}",
            f"startretries = {START_RETRIES}",
            "stopsignal = TERM",
            f"stopwaitsecs = {service.stop_wait_s}",
            f"stopasgroup = {str(service.stop_as_group).lower()}",
            "killasgroup = true",
            "redirect_stderr = true",
            f"stdout_logfile = {_quote(log_dir / (service.name + '.log'))}",
            "stdout_logfile_maxbytes = 50MB",
            "stdout_logfile_backups = 3",
            'environment = PYTHONUNBUFFERED="1"',
        ]
    return "\n".join(lines) + "\n"


def _started_later(settings: Settings) -> tuple[str, ...]:
    # The llm worker checks (and reports) its engine as it starts: with a local vLLM it starts
    # once the server answers (start_after_local_llm), or it would report it unreachable.
    return ("worker-llm",) if settings.vllm_serve else ()


def start_after_local_llm(settings: Settings, timeout: float | None = None) -> None:
    """With ``vllm_serve``: wait until the vLLM program serves the model, then start the llm
    worker. RuntimeError if vLLM keeps exiting or does not serve in time."""
    if not settings.vllm_serve:
        return
    deadline = time.monotonic() + (timeout or settings.vllm_start_timeout_s)
    while not vllm_server.serves(settings):
        state = {p["name"]: p["statename"] for p in processes(settings)}.get(VLLM_SERVICE.name)
        if state == "FATAL":
            raise RuntimeError(f"vllm keeps exiting; see {settings.log_dir / 'vllm.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"vLLM did not serve {vllm_server.models_url(settings)} in time; "
                               f"see {settings.log_dir / 'vllm.log'}")
        time.sleep(1.0)
    for name in _started_later(settings):
        try:
            rpc(settings).supervisor.startProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise RuntimeError(f"supervisord could not start {name}: {fault.faultString}") from fault


# --- talking to supervisord ---------------------------------------------------------------------

def rpc(settings: Settings) -> Any:
    """supervisord's XML-RPC interface over its unix socket."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path(settings)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisor_running(settings: Settings) -> bool:
    try:
        return rpc(settings).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def processes(settings: Settings) -> list[dict[str, Any]]:
    """supervisord's view of each program: ``name``, ``statename``, ``pid``, ``description``."""
    try:
        return rpc(settings).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return []


def _supervisord_pid(settings: Settings) -> int | None:
    try:
        pid = int(pid_path(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(settings: Settings, timeout: float = 30.0) -> bool:
    """supervisord with every program; False when it was running already (then only the
    programs it had given up on are started again)."""
    if supervisor_running(settings):
        for info in processes(settings):
            if info["statename"] in ("STOPPED", "EXITED", "FATAL"):
                rpc(settings).supervisor.startProcess(info["name"], False)
        return False
    stop_legacy(settings)
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    socket_path(settings).unlink(missing_ok=True)  # left by a supervisord that was killed
    config_path(settings).write_text(render_config(settings))
    # supervisord daemonizes: this returns once it has forked into the background.
    subprocess.run(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(config_path(settings))],
        check=True, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while not supervisor_running(settings):
        if time.monotonic() > deadline:
            raise RuntimeError(f"supervisord did not start; see {settings.log_dir / 'supervisord.log'}")
        time.sleep(0.2)
    return True


def stop(settings: Settings) -> list[str]:
    """Stops every program (each within its stop wait) and supervisord; the names that ran."""
    stopped = stop_legacy(settings)
    if not supervisor_running(settings):
        return stopped
    ran = [p["name"] for p in processes(settings) if p["statename"] not in ("STOPPED", "EXITED", "FATAL")]
    pid = _supervisord_pid(settings)
    try:
        # All at once (shutdown alone stops one program after the other), then supervisord.
        rpc(settings).supervisor.stopAllProcesses(True)
        rpc(settings).supervisor.shutdown()
    except (OSError, xmlrpc.client.Error):
        pass  # already on its way out
    deadline = time.monotonic() + max(s.stop_wait_s for s in services(settings)) + 30
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return stopped + ran


def stop_legacy(settings: Settings) -> list[str]:
    """Processes an earlier ``avatar up`` started without supervisord (``run/<name>.pid``)."""
    stopped = []
    for service in services():
        path = run_dir(settings) / f"{service.name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            continue
        path.unlink(missing_ok=True)
        if not _alive(pid):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + service.stop_wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stopped.append(service.name)
    return stopped


# --- health and what to print --------------------------------------------------------------------

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
        for info in processes(settings):
            if info["statename"] == "FATAL":
                raise RuntimeError(
                    f"{info['name']} keeps exiting; see {settings.log_dir / (info['name'] + '.log')}"
                )
        time.sleep(1.0)
    return body


def program_table(settings: Settings) -> str:
    return "\n".join(
        f"  {p['name']:18} {p['statename']:9} {p['description']}" for p in processes(settings)
    )


def summary(settings: Settings, body: dict | None, secrets: LocalSecrets | None = None) -> str:
    base = settings.resolved_public_base_url
    kept = secrets.from_file if secrets else frozenset()
    flower_password = (f"password {env_name('flower_password')} in {secrets.path}"
                       if secrets and "flower_password" in kept
                       else f"password from {env_name('flower_password')}")
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
    if secrets and kept:
        names = ", ".join(env_name(name) for name in sorted(kept))
        lines.append(f"  secrets        {secrets.path} (mode 0600): {names}")
    lines.append("  supervisor     crashed processes restart by themselves; `avatar status`, `avatar down`")
    if body:
        for name, env in (body.get("engine_envs") or {}).items():
            if not env.get("built", True):
                lines.append(f"  ! engine environment {name!r} not built -> run: {env.get('fix')}")
        for stage, engine in body.get("engines", {}).items():
            if not engine.get("available"):
                lines.append(
                    f"  ! {stage} engine {engine.get('engine')!r} unavailable: {engine.get('reason')}"
                    + (f" -> run: {engine['fix']}" if engine.get("fix") else "")
                )
    return "\n".join(lines)


def status_table(settings: Settings) -> str:
    if not supervisor_running(settings):
        rows = ["supervisord not running (start everything: make up)"]
    else:
        pid = _supervisord_pid(settings)
        rows = [f"supervisord running pid {pid} ({config_path(settings)})", program_table(settings)]
    rows += health_lines(health(settings))
    return "\n".join(rows)


def health_lines(body: dict | None) -> list[str]:
    """``/api/v1/health`` in a few lines: the status, then only what is wrong."""
    if not body:
        return ["health: API not answering"]
    rows = [f"health: {body.get('status')}"]
    for name, component in (body.get("components") or {}).items():
        if not component.get("ok"):
            rows.append(f"  ! {name}: {component.get('error')}")
    idle = [lane for lane, info in (body.get("lanes") or {}).items() if not info.get("workers")]
    if idle:
        rows.append(f"  ! lanes without a worker: {', '.join(idle)}")
    for name, env in (body.get("engine_envs") or {}).items():
        if isinstance(env, dict) and not env.get("built", True):
            rows.append(f"  ! engine environment {name!r} not built: {env.get('fix')}")
    for stage, engine in (body.get("engines") or {}).items():
        if isinstance(engine, dict) and not engine.get("available", True):
            rows.append(f"  ! {stage} engine {engine.get('engine')!r} unavailable: {engine.get('reason')}")
    return rows
