"""What the fault benchmark starts itself and reads from ``/proc``: its own Redis server and
its own PostgreSQL server (each on its own port, restartable), and the processes' memory.

Redis runs with the persistence of the deployed one (``docker/docker-compose.yml``:
``redis-server --appendonly yes``, Redis's default RDB save points), not that of
``scripts/services.sh`` (``--save "" --appendonly no``, a developer's throwaway server): a
restart is a fault a deployment lives through, so what it keeps is the deployment's.
PostgreSQL is a fresh cluster (``initdb``) with the defaults the ``pgvector/pgvector:pg16``
image uses; both run as the ``postgres`` user when the benchmark runs as root.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REDIS_PORTS = range(6401, 6411)  # this benchmark's own range: the machine's Redis is 6379
PG_FIRST_PORT = 55432
REDIS_PERSISTENCE = ("--appendonly", "yes")  # docker/docker-compose.yml's redis service


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def first_free(ports: range) -> int:
    for port in ports:
        if port_free(port):
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def _as_postgres() -> list[str]:
    """Prefix that runs a PostgreSQL binary as ``postgres`` (it refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])  # the newest installed major version
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # not up yet
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *REDIS_PERSISTENCE,
                "--dir", str(self.root), "--logfile", str(self.root / "redis.log"), "--daemonize", "no"]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or first_free(REDIS_PORTS)
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_for(self.ping, 20, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        return bool(redis.Redis(port=self.port, socket_timeout=1).ping())

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM: Redis's own shutdown (it flushes the append-only file first)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, down_s: float) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()
        self.restarts += 1

    def info(self) -> dict[str, str]:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        server, memory = client.info("server"), client.info("memory")
        return {"version": str(server.get("redis_version")), "keys": str(client.dbsize()),
                "used_memory": str(memory.get("used_memory_human"))}


@dataclass
class PostgresServer:
    root: Path  # owned by postgres: the cluster, its socket and its log
    port: int = 0
    restarts: int = 0
    started: bool = False
    version: str = ""

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "avatar") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> str:
        done = subprocess.run([*_as_postgres(), *argv], capture_output=True, text=True, timeout=timeout,
                              cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            # the temp dirs above it must let postgres through
            for parent in [self.root.parent, *self.root.parent.parents][:3]:
                if parent != Path("/tmp") and parent != Path("/"):
                    parent.chmod(parent.stat().st_mode | 0o711)
        self.port = self.port or next(p for p in range(PG_FIRST_PORT, PG_FIRST_PORT + 200) if port_free(p))
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C")
        self.version = self._run(pg_bin("postgres"), "--version").strip()

    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"

    def start(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", self._options(), "-l",
                  str(self.root / "postgres.log"), "-w", "-t", "60", "start")
        self.started = True

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, the server comes back."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", self._options(), "-l",
                  str(self.root / "postgres.log"), "-w", "-t", "60", "-m", "fast", "restart")
        self.restarts += 1

    def stop(self) -> None:
        if self.started and (self.data / "postmaster.pid").exists():
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop")
        self.started = False

    @property
    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def create_database(self, name: str = "avatar") -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------------------------
# processes, from /proc
# --------------------------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (a scan of /proc: the kernel's ``children`` file is optional)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    for child in children(pid):
        out += [child, *descendants(child)]
    return out


@dataclass
class Memory:
    rss_kb: int
    pss_kb: int | None  # None where smaps_rollup is unreadable
    anon_kb: int | None  # RssAnon: the process's own heap, not the shared memory it touched


def memory(pid: int) -> Memory | None:
    """RSS and RssAnon from /proc/PID/status, PSS from /proc/PID/smaps_rollup; None once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {line.split(":", 1)[0]: line.split()[1] for line in status.splitlines() if line.startswith(("VmRSS:", "RssAnon:"))}
    rss = int(fields["VmRSS"]) if "VmRSS" in fields else None
    anon = int(fields["RssAnon"]) if "RssAnon" in fields else None
    if rss is None:  # a zombie or kernel thread
        return None
    pss = None
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
                break
    except OSError:
        pass
    return Memory(rss, pss, anon)
