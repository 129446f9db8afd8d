"""``llm`` lane: write the assistant's reply for a turn (streamed, sentence by sentence)."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from avatar.domain import ErrorCode, Lane, Priority
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.tts import enqueue_speech
from workers.engines.base import EngineUnavailable, TransientEngineError
from workers.reply import reply_failed, run_reply

_settings = get_settings()


@app.task(
    name="avatar.llm.generate_reply",
    bind=True,
    max_retries=_settings.task_max_retries,
    soft_time_limit=_settings.llm_soft_time_limit_s,
    time_limit=_settings.llm_time_limit_s,
)
def generate_reply(self, turn_id: str, accepted_at: float) -> dict:  # type: ignore[no-untyped-def]
    try:
        return run_reply(turn_id, accepted_at=accepted_at, enqueue_speech=enqueue_speech)
    except TransientEngineError as exc:
        if self.request.retries < self.max_retries:
            # Exponential backoff with a little jitter-free cap: 2, 4, 8 ... 30 s.
            raise self.retry(exc=exc, countdown=min(30, 2 ** (self.request.retries + 1))) from exc
        reply_failed(turn_id, ErrorCode.ENGINE_FAILED, f"語言模型暫時無法回應：{exc}")
    except EngineUnavailable as exc:
        reply_failed(turn_id, ErrorCode.ENGINE_UNAVAILABLE, f"語言模型無法使用：{exc.reason}", fix=exc.fix)
    except SoftTimeLimitExceeded:
        reply_failed(turn_id, ErrorCode.ENGINE_FAILED, "回覆逾時（reply timed out）")
    except Exception as exc:
        reply_failed(turn_id, ErrorCode.INTERNAL, f"回覆失敗：{type(exc).__name__}: {exc}")
        raise
    return {"turn_id": turn_id, "failed": True}


def enqueue_reply(turn_id: str, accepted_at: float) -> None:
    generate_reply.apply_async(
        args=[turn_id, accepted_at], queue=Lane.LLM.value, priority=Priority.REPLY
    )
