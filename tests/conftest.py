"""Shared fixtures: the real Redis and PostgreSQL of this machine, and whole systems."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from avatar.db.engine import make_engine
from avatar.db.migrate import upgrade
from cli.engines import EnvBuildError, install
from tests.system import System, free_port, wait_until

REDIS_BASE = os.environ.get("AVATAR_TEST_REDIS", "redis://127.0.0.1:6379")
PG_ADMIN_URL = os.environ.get("AVATAR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# What a whole system stands on: SQLite + local files, or PostgreSQL + S3 (moto's server in
# MinIO's place). Parametrize a system fixture with STACKS to run its tests on both.
STACKS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres, id="postgres-s3")]
# Each kind of system gets its own Redis database so queues never mix between fixtures.
# Reserved for the systems of later issues: 1 web, 2 deploy, 3 prosody, 4-5 cloning, 9-10 speech.
REDIS_DB = {"web": 1, "deploy": 2, "prosody": 3, "cloning": 4, "cloning_units": 5, "hq_oom": 6, "hq": 7, "admission": 8, "speech": 9, "speech_bench": 10, "voice_bench": 10, "tiny": 11, "bench": 12, "faults": 13, "priorities": 14, "noweights": 15,
            # Redis has 16 databases: later systems share one with a module that never runs
            # beside theirs (each fixture flushes its database when it starts).
            "hq_preview": 7, "hq_style": 7, "voice_job": 5, "supervisor": 13,
            "api_fuzz": 8, "socket_fuzz": 8, "cloning_pg": 4, "vllm": 6, "vllm_down": 12, "vllm_up": 13,
            "f5": 5, "f5_turn": 4, "cosyvoice": 5, "voxcpm": 5, "cosyvoice_turn": 4, "fast_oom": 8, "eval_f5": 5}


def _libpq_url(url: str) -> str:
    """psycopg wants a libpq URL: no ``+driver`` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(_libpq_url(PG_ADMIN_URL), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL is unreachable at {where} ({' '.join(str(exc).split())}); set "
                    "AVATAR_TEST_POSTGRES_URL to a server where CREATE DATABASE is allowed")


def create_pg_database(prefix: str) -> str:
    """A new, empty PostgreSQL database; drop it with :func:`drop_pg_database`."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    with _pg_admin() as admin:
        # FORCE: a connection a failed test leaked must not leave the database behind.
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(make_url(url).database)))


@pytest.fixture
def pg_database() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    url = create_pg_database("avatar_test")
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated to head: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'avatar.db').as_posix()}"
    else:
        url = request.getfixturevalue("pg_database")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def require_dev_extra(module: str, extra: str) -> None:
    """A package of the ``dev`` extra that ``make test`` installs: missing is a failure,
    never a skip, or a broken install would pass as a green run."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is missing: it is in the dev extra ({extra}); run `make install` "
                    "or pip install -e '.[dev]'")


def _start_s3(system: System) -> dict[str, str]:
    """moto's S3 server for this system alone (it stands in for MinIO; see README, Testing)."""
    require_dev_extra("moto.server", "moto[server]")
    port = free_port()
    proc = system.spawn("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])

    def answering() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"moto's S3 server exited with {proc.returncode}: {system.log('s3')[-2000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500

    wait_until(answering, 60, "moto's S3 server")
    return {
        "AVATAR_STORAGE_BACKEND": "minio", "AVATAR_MINIO_ENDPOINT": f"127.0.0.1:{port}",
        "AVATAR_MINIO_ACCESS_KEY": "testing", "AVATAR_MINIO_SECRET_KEY": "testing",
        "AVATAR_MINIO_BUCKET": f"avatar-{uuid.uuid4().hex[:12]}",
    }


def _require_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say so loudly
        pytest.fail(f"these tests need the local Redis at {url}: {exc} (start it: see README, Testing)")


@pytest.fixture(scope="session")
def engine_env() -> Callable[[str], Path]:
    """``engine_env(name)``: the python of engine environment ``name``, built first if it is
    missing (pip's progress printed; ``pytest -s`` shows it). A failed build fails the test:
    a missing env is never a skip, so ``make test`` runs every engine's real package."""
    def python(name: str) -> Path:
        try:
            return install(name, log=lambda line: print(line, file=sys.stderr, flush=True))
        except EnvBuildError as exc:
            pytest.fail(f"engine environment {name!r} could not be built: {exc}", pytrace=False)

    return python


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny randomly initialised models, generated once per test run (no downloads)."""
    from models.tiny import make_tiny_models

    models_dir = tmp_path_factory.mktemp("models")
    make_tiny_models(models_dir)
    return models_dir


def make_system(
    tmp: Path, kind: str, models_dir: Path, *, stack: str = "sqlite", **overrides: str
) -> System:
    """A system of ``kind`` (its Redis database) on ``stack`` (one of STACKS): migrated, no
    process started yet except, on ``postgres``, its S3 server."""
    if stack not in ("sqlite", "postgres"):
        raise ValueError(f"unknown stack {stack!r}")
    redis_url = f"{REDIS_BASE}/{REDIS_DB[kind]}"
    _require_redis(redis_url)
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp / "var"
    log_dir = data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AVATAR_PROFILE": "tiny",
        "AVATAR_DATA_DIR": str(data_dir),
        "AVATAR_MODELS_DIR": str(models_dir),
        "AVATAR_REDIS_URL": redis_url,
        "AVATAR_BROKER_URL": "",
        "AVATAR_DATABASE_URL": "",
        "AVATAR_SOCKETIO_CHANNEL": f"avatar-test-{uuid.uuid4().hex[:8]}",
        "AVATAR_SECRET_KEY": uuid.uuid4().hex,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # Admission control has its own test; elsewhere many sessions come and go.
        "AVATAR_MAX_ACTIVE_SESSIONS": "200",
        **overrides,
    }
    port = free_port()
    env["AVATAR_API_PORT"] = str(port)
    system = System(data_dir=data_dir, env=env, port=port, log_dir=log_dir, stack=stack)
    try:
        if stack == "postgres":
            database_url = create_pg_database(f"avatar_{kind}")
            system.cleanups.append(lambda: drop_pg_database(database_url))
            env.update(AVATAR_DATABASE_URL=database_url, **_start_s3(system))
        system.run_cli("db", "upgrade")
    except BaseException:  # the caller's teardown never sees a system it did not get
        system.stop_all()
        raise
    return system


@pytest.fixture(scope="module")
def tiny_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path,
) -> Iterator[System]:
    """API + one worker per backbone lane on the ``tiny`` profile; SQLite and local storage
    unless a module parametrizes it (``parametrize("tiny_system", STACKS, indirect=True)``)."""
    stack = getattr(request, "param", "sqlite")
    system = make_system(tmp_path_factory.mktemp(f"tiny-{stack}"), "tiny", tiny_models_dir, stack=stack)
    try:
        system.start_api()
        for lane in ("llm", "tts_fast"):
            system.start_worker(lane, concurrency=2 if lane == "tts_fast" else 1)
        system.wait_for_lanes("llm", "tts_fast")
        yield system
    finally:
        system.stop_all()
