"""The system under the fault benchmark: its own Redis and PostgreSQL, and ``avatar up``
(every lane's worker, the API and Flower under supervisord) on them, in a temporary data
directory with the ``tiny`` profile and local storage."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from avatar.settings import Settings
from bench.faults_infra import PostgresServer, RedisServer, children, descendants, memory
from cli import launcher
from models.tiny import make_tiny_models

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    root: Path
    redis: RedisServer
    postgres: PostgresServer
    env: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    up_output: str = ""

    @property
    def data_dir(self) -> Path:
        return self.root / "var"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"  # where `avatar up` runs: no developer's .env there

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir)  # for supervisord's socket path

    @property
    def database_url(self) -> str:
        return self.postgres.url()

    # --- start / stop ----------------------------------------------------------------------
    @classmethod
    def create(cls) -> Stack:
        root = Path(tempfile.mkdtemp(prefix="avatar-faults-"))
        root.chmod(0o755)  # the postgres user works below it
        return cls(root=root, redis=RedisServer(root / "redis"), postgres=PostgresServer(root / "pg"))

    def start(self, sessions: int, log) -> None:  # type: ignore[no-untyped-def]
        log("tiny models ...")
        make_tiny_models(self.root / "models")
        self.redis.start()
        log(f"redis-server on port {self.redis.port} (appendonly yes, as docker-compose)")
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database()
        log(f"PostgreSQL ({self.postgres.version}) on port {self.postgres.port}")
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.api_port = _free_port()
        flower_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AVATAR_")}
        env.update({
            "AVATAR_PROFILE": "tiny",
            "AVATAR_DATA_DIR": str(self.data_dir),
            "AVATAR_MODELS_DIR": str(self.root / "models"),
            "AVATAR_REDIS_URL": self.redis.url,
            "AVATAR_DATABASE_URL": self.database_url,
            "AVATAR_STORAGE_BACKEND": "local",
            "AVATAR_API_PORT": str(self.api_port),
            "AVATAR_FLOWER_PORT": str(flower_port),
            "AVATAR_SOCKETIO_CHANNEL": f"avatar-faults-{uuid.uuid4().hex[:8]}",
            # the load's sessions, and no more: admission stays on, as deployed
            "AVATAR_MAX_ACTIVE_SESSIONS": str(max(5, sessions)),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(REPO),
        })
        self.env = env
        self._cli("db", "upgrade", timeout=180)
        log("avatar up (supervisord) ...")
        up = self._cli("up", "--timeout", "420", timeout=480, check=False)
        self.up_output = up.stdout + up.stderr
        if up.returncode != 0:
            raise RuntimeError(f"avatar up failed ({up.returncode}):\n{self.up_output[-3000:]}")

    def _cli(self, *args: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "cli", *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"avatar {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done

    def stop(self, log) -> list[int]:  # type: ignore[no-untyped-def]
        """Everything down; returns the pids still alive afterwards (none, or a defect)."""
        if self.env:
            try:
                self._cli("down", timeout=240, check=False)
            except subprocess.TimeoutExpired:
                log("avatar down timed out")
        for pid in self.own_processes():  # whatever supervisord left
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for stop in (self.redis.stop, self.postgres.stop):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                log(f"stopping: {exc}")
        time.sleep(0.5)
        left = self.own_processes() + [p for p in (self.redis.pid, self.postgres.pid) if p]
        return sorted(set(left))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def own_processes(self) -> list[int]:
        """Every live process started for this data directory (its environment says so)."""
        marker = f"AVATAR_DATA_DIR={self.data_dir}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0") and memory(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def program_exits(self) -> list[str]:
        """supervisord's log of every program that exited (and was started again)."""
        log = self.data_dir / "log" / "supervisord.log"
        if not log.exists():
            return []
        return [line.strip() for line in log.read_text(errors="replace").splitlines() if " exited: " in line]

    # --- what runs -------------------------------------------------------------------------
    def programs(self) -> dict[str, int]:
        """supervisord's RUNNING programs and their pids."""
        return {p["name"]: int(p["pid"]) for p in launcher.processes(self.settings)
                if p["statename"] == "RUNNING" and p["pid"]}

    def pool_children(self, lane: str) -> list[int]:
        """The lane worker's pool processes: its main process's direct children (not what
        they run in turn, e.g. an espeak-ng subprocess of a TTS child)."""
        pid = self.programs().get(f"worker-{lane}")
        return children(pid) if pid else []

    def wait_healthy(self, timeout: float = 180) -> bool:
        """True once ``/api/v1/health`` is green again (False: not within ``timeout``, or
        supervisord gave up on a program)."""
        try:
            body = launcher.wait_healthy(Settings(data_dir=self.data_dir, api_port=self.api_port), timeout)
        except RuntimeError:
            return False
        return bool(body) and body.get("status") == "ok"

    def processes_to_sample(self) -> dict[int, str]:
        """pid -> label for every process of the system: the programs and their children,
        redis-server, the postmaster and its children (named by their process titles)."""
        out: dict[int, str] = {}
        for name, pid in self.programs().items():
            out[pid] = name
            direct = set(children(pid))
            for child in descendants(pid):  # a pool child, or what one runs (espeak-ng)
                out[child] = f"{name} child" if child in direct else f"{name} subprocess"
        if self.redis.pid:
            out[self.redis.pid] = "redis-server"
        master = self.postgres.pid
        if master:
            out[master] = "postgres (postmaster)"
            for child in descendants(master):
                out[child] = _pg_title(child)
        return out


def _pg_title(pid: int) -> str:
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "postgres"
    if title.startswith("postgres: postgres "):  # a client connection's backend
        return "postgres backend"
    return title.split("  ")[0][:40] or "postgres"

