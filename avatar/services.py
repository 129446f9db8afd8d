"""What every process wires once and passes in: settings, Redis, the Socket.IO emitter,
storage, the database and the dispatcher.

The API builds one :class:`Services` in ``create_app(settings)``; each Celery worker process
builds one in ``worker_process_init`` (``tasks/context.py``). Stages and routes receive it;
none of them reads settings or opens connections on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session as DBSession

from avatar.db import session_scope
from avatar.dispatch import CeleryDispatcher, Dispatcher
from avatar.events import Emitter
from avatar.queue import producer_app
from avatar.settings import Settings
from avatar.storage import Storage, get_storage


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    emitter: Emitter
    storage: Storage
    dispatcher: Dispatcher

    @classmethod
    def build(cls, settings: Settings, dispatcher: Dispatcher | None = None) -> Services:
        """Connections are opened lazily: building this does no I/O."""
        return cls(
            settings=settings,
            redis=redis.Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=30),
            emitter=Emitter(settings),
            storage=get_storage(settings),
            dispatcher=dispatcher or CeleryDispatcher(producer_app(settings)),
        )

    @contextmanager
    def db(self) -> Iterator[DBSession]:
        """One transaction on this process's database (committed on success)."""
        with session_scope(self.settings.resolved_database_url) as session:
            yield session
