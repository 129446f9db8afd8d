"""``llm`` lane: write the assistant's reply for a turn (streamed, sentence by sentence)."""

from __future__ import annotations

from functools import partial
from typing import Any

from avatar.domain import Lane, Priority
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.guard import run_guarded
from tasks.tts import enqueue_speech
from workers.reply import reply_failed, run_reply

_settings = get_settings()


@app.task(
    name="avatar.llm.generate_reply",
    bind=True,
    max_retries=_settings.task_max_retries,
    soft_time_limit=_settings.llm_soft_time_limit_s,
    time_limit=_settings.llm_time_limit_s,
)
def generate_reply(self, turn_id: str, accepted_at: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return run_guarded(
        self,
        partial(run_reply, turn_id, accepted_at=accepted_at, enqueue_speech=enqueue_speech),
        partial(reply_failed, turn_id),
        what="語言模型",
        backoff_cap_s=30,
    )


def enqueue_reply(turn_id: str, accepted_at: float) -> None:
    generate_reply.apply_async(
        args=[turn_id, accepted_at], queue=Lane.LLM.value, priority=Priority.REPLY
    )
