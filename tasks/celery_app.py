"""The Celery application of the workers; configuration lives in the top-level
``celeryconfig`` module (built from settings and the job contracts by ``avatar.queue``).

``tasks/`` holds only thin adapters: each task decodes its job (``avatar.jobs``), takes this
process's wiring (``tasks.context.current()``) and calls a stage in ``workers/``.
"""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

from avatar.worker_metrics import child_exited

app = Celery(
    "avatar",
    include=[
        "tasks.context", "tasks.llm", "tasks.tts", "tasks.prosody", "tasks.diagnostics", "tasks.voices",
        "tasks.asr", "tasks.warm_up", "tasks.voice_profiles",
    ],
)
app.config_from_object("celeryconfig")


@worker_process_shutdown.connect
def _drop_child_metrics(**_: object) -> None:  # a forked child's live gauges die with it
    child_exited(os.getpid())
