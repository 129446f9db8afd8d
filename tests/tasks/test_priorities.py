"""Redis priorities on a real worker: a high-priority job queued behind a backlog of
low-priority ones runs next. Execution order is recorded by the jobs themselves in Redis;
the test waits on events, never on sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from avatar.domain import Priority
from tests.conftest import make_system
from tests.system import System, wait_until


@pytest.fixture(scope="module")
def batch_worker(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(tmp_path_factory.mktemp("prio"), "priorities", tiny_models_dir)
    try:
        system.start_worker("batch", concurrency=1)
        app = client_app(system)
        wait_until(
            lambda: any(
                q["name"] == "batch"
                for queues in (app.control.inspect(timeout=1).active_queues() or {}).values()
                for q in queues
            ),
            60, "the batch worker",
        )
        system.celery = app  # type: ignore[attr-defined]
        yield system
    finally:
        system.stop_all()


def client_app(system: System) -> Celery:
    """A producer with the project's Celery configuration, pointed at this system's Redis."""
    app = Celery("priority-test")
    app.config_from_object("celeryconfig")
    app.conf.broker_url = system.env["AVATAR_REDIS_URL"]
    app.conf.result_backend = system.env["AVATAR_REDIS_URL"]
    return app


def test_high_priority_job_overtakes_low_priority_backlog(batch_worker: System) -> None:
    app: Celery = batch_worker.celery  # type: ignore[attr-defined]

    def probe(args: list, priority: int) -> None:
        app.send_task("avatar.diagnostics.probe", args=args, queue="batch", priority=priority)

    record, hold = f"prio:{uuid.uuid4().hex}", f"hold:{uuid.uuid4().hex}"
    client = batch_worker.redis()

    # 1. Occupy the only worker slot until we say so.
    probe(["blocker", record, hold, 60], Priority.BATCH)
    wait_until(lambda: client.lrange(record, 0, -1) == [b"blocker"], 30, "the blocker to start")

    # 2. A backlog of low-priority jobs, then one high-priority job, all while it is busy.
    for i in range(5):
        probe([f"low-{i}", record], Priority.BATCH)
    probe(["high", record], Priority.FIRST_SENTENCE)

    # 3. Release the worker and let it drain the queue.
    client.rpush(hold, "go")
    order = wait_until(
        lambda: (lambda got: got if len(got) == 7 else None)(
            [label.decode() for label in client.lrange(record, 0, -1)]
        ),
        60, "all seven jobs to run",
    )
    assert order[0] == "blocker"
    assert order[1] == "high", f"high-priority job did not run next: {order}"
    assert order[2:] == [f"low-{i}" for i in range(5)], "same-priority jobs must keep FIFO order"
