"""``llm`` lane: write the assistant's reply for a turn (streamed, sentence by sentence)."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task

from avatar import jobs
from avatar.jobs import ReplyJob
from tasks.celery_app import app
from tasks.context import current
from tasks.guard import run_guarded
from workers.reply import reply_failed, run_reply


@app.task(name=jobs.REPLY.task, bind=True)
def generate_reply(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = ReplyJob.model_validate(payload)
    ctx = current()
    return run_guarded(
        self, partial(run_reply, ctx, job), partial(reply_failed, ctx, job.turn_id),
        what="語言模型", backoff_cap_s=30,
    )
