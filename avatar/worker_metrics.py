"""Prometheus for Celery prefork workers: multiprocess mode plus one HTTP exporter per worker.

``prepare(lane)`` runs in ``avatar worker`` *before* anything imports prometheus_client (the
client reads ``PROMETHEUS_MULTIPROC_DIR`` at import): it gives the worker an empty directory
of its own, so samples of a previous run or of another worker never leak in. ``serve(port)``
then starts, in the parent process, an HTTP server whose registry merges the files every
forked child writes. When a child exits its live gauges are dropped (``mark_process_dead``,
hooked on Celery's ``worker_process_shutdown`` signal in ``tasks.celery_app``).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(base_dir: Path, lane: str) -> Path:
    directory = base_dir / f"{lane}-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[ENV] = str(directory)
    return directory


def serve(port: int, host: str = "0.0.0.0") -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # e.g. two workers on one host with the same port: keep working
        log.warning("worker metrics exporter not started on port %s: %s", port, exc)


def child_exited(pid: int) -> None:
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
