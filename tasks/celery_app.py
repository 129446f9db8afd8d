"""The Celery application; configuration lives in the top-level ``celeryconfig`` module."""

from celery import Celery

app = Celery("avatar", include=["tasks.llm", "tasks.tts", "tasks.prosody", "tasks.diagnostics", "tasks.voices", "tasks.asr"])
app.config_from_object("celeryconfig")
