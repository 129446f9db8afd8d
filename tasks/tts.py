"""``tts_fast`` / ``tts_hq`` lanes: speak one sentence of a reply."""

from __future__ import annotations

from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from avatar.domain import ErrorCode, Lane, Priority, TTSMode
from avatar.settings import get_settings
from tasks.celery_app import app
from tasks.jobs import SpeechJob
from workers.engines.base import EngineUnavailable, TransientEngineError
from workers.speech import run_speech, speech_failed

_settings = get_settings()
_limits = {"soft_time_limit": _settings.tts_soft_time_limit_s, "time_limit": _settings.tts_time_limit_s}


def _speak(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    job = SpeechJob.model_validate(payload)
    try:
        return run_speech(job)
    except TransientEngineError as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=min(10, 2**task.request.retries)) from exc
        speech_failed(job, ErrorCode.ENGINE_FAILED, f"語音合成暫時失敗：{exc}")
    except EngineUnavailable as exc:
        speech_failed(job, ErrorCode.ENGINE_UNAVAILABLE, f"語音引擎無法使用：{exc.reason}", fix=exc.fix)
    except SoftTimeLimitExceeded:
        speech_failed(job, ErrorCode.ENGINE_FAILED, "語音合成逾時（synthesis timed out）")
    except Exception as exc:
        speech_failed(job, ErrorCode.INTERNAL, f"語音合成失敗：{type(exc).__name__}: {exc}")
        raise
    return {"turn_id": job.turn_id, "seq": job.seq, "failed": True}


@app.task(name="avatar.tts.fast.synthesize", bind=True, max_retries=_settings.task_max_retries, **_limits)
def synthesize_fast(self, payload: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return _speak(self, payload)


@app.task(name="avatar.tts.hq.synthesize", bind=True, max_retries=_settings.task_max_retries, **_limits)
def synthesize_hq(self, payload: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return _speak(self, payload)


def enqueue_speech(job: SpeechJob) -> None:
    """Send a sentence to its lane; a turn's first sentence gets the highest priority."""
    if job.mode is TTSMode.HQ:
        synthesize_hq.apply_async(
            args=[job.model_dump(mode="json")], queue=Lane.TTS_HQ.value, priority=Priority.HQ_UPGRADE
        )
    else:
        synthesize_fast.apply_async(
            args=[job.model_dump(mode="json")], queue=Lane.TTS_FAST.value,
            priority=Priority.for_sentence(job.seq),
        )
