"""The wiring of a worker process: one :class:`StageContext` per process, built in Celery's
``worker_process_init`` (each prefork child, after the fork) or, for thread and solo pools,
when the worker has set up (``celeryd_after_setup``)."""

from __future__ import annotations

import os
from typing import Any

from celery.signals import celeryd_after_setup, worker_process_init

from avatar.dispatch import CeleryDispatcher
from avatar.services import Services
from avatar.settings import Settings, get_settings
from tasks.celery_app import app
from workers.context import StageContext

_contexts: dict[int, StageContext] = {}


def build(settings: Settings | None = None) -> StageContext:
    # Jobs a stage queues go out through this worker's own app (its broker connection pool).
    context = StageContext(Services.build(settings or get_settings(), CeleryDispatcher(app)))
    _contexts[os.getpid()] = context
    return context


def current() -> StageContext:
    """This process's context (a Redis pool never crosses a fork: keyed by pid)."""
    context = _contexts.get(os.getpid())
    return context if context is not None else build()


@worker_process_init.connect
def _wire_child(**_: Any) -> None:
    build()


@celeryd_after_setup.connect
def _wire_main(**_: Any) -> None:
    build()
