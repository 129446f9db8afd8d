"""The Celery application; configuration lives in the top-level ``celeryconfig`` module."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

from avatar.worker_metrics import child_exited

app = Celery("avatar", include=["tasks.llm", "tasks.tts", "tasks.prosody", "tasks.diagnostics", "tasks.voices", "tasks.asr", "tasks.warm_up"])
app.config_from_object("celeryconfig")


@worker_process_shutdown.connect
def _drop_child_metrics(**_: object) -> None:  # a forked child's live gauges die with it
    child_exited(os.getpid())
