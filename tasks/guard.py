"""How every job turns engine failures into what the user sees.

- TransientEngineError: retried with exponential backoff, then reported as ENGINE_FAILED.
- EngineUnavailable: reported at once as ENGINE_UNAVAILABLE with the command that fixes it.
- VRAMExhausted: reported at once as VRAM_EXHAUSTED (out of GPU memory after freeing and a
  retry, with no fallback engine configured).
- Redis, the broker or the database unreachable (a restart, a network cut): the job body runs
  again in the same process after 1, 2, 4 and 8 s (not through the broker, which may be what
  is down), then it is reported as QUEUE_UNAVAILABLE / DATABASE_UNAVAILABLE. The stages are
  idempotent per sentence and per turn, so running a body again is what a redelivery does.
- The soft time limit: reported as ENGINE_FAILED (timed out).
- Anything else: reported as INTERNAL and re-raised so Celery records the traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from avatar.domain import ErrorCode
from avatar.outages import OUTAGES, outage_code
from workers.engines.base import EngineUnavailable, TransientEngineError, VRAMExhausted

log = logging.getLogger(__name__)

Fail = Callable[..., None]  # fail(code, message, fix="")

# A Redis or PostgreSQL restart takes a few seconds (bench/faults.py restarts both under load).
OUTAGE_RETRY_DELAYS_S = (1, 2, 4, 8)


def _run_through_outages(run: Callable[[], dict[str, Any]], *, what: str) -> dict[str, Any]:
    for delay in OUTAGE_RETRY_DELAYS_S:
        try:
            return run()
        except OUTAGES as exc:
            log.warning("%s: %s (%s); running the job again in %s s", what, type(exc).__name__, exc, delay)
            time.sleep(delay)
    return run()


def run_guarded(
    task: Task,
    run: Callable[[], dict[str, Any]],
    fail: Fail,
    *,
    what: str,
    backoff_cap_s: int,
    passthrough: tuple[type[Exception], ...] = (),
) -> dict[str, Any]:
    """Run a job body; ``what`` names the stage for the user (e.g. 語言模型, 語音合成).
    Exceptions in ``passthrough`` are the caller's to handle (e.g. waiting for a GPU slot)."""
    try:
        return _run_through_outages(run, what=what)
    except passthrough:
        raise
    except OUTAGES as exc:
        fail(outage_code(exc), f"{what}：服務暫時無法連線，請稍後再試（{type(exc).__name__}: {exc}）"[:500])
    except TransientEngineError as exc:
        if task.request.retries < task.max_retries:
            countdown = min(backoff_cap_s, 2 ** (task.request.retries + 1))
            raise task.retry(exc=exc, countdown=countdown) from exc
        fail(ErrorCode.ENGINE_FAILED, f"{what}暫時無法使用，已重試 {task.max_retries} 次：{exc}")
    except EngineUnavailable as exc:
        fail(ErrorCode.ENGINE_UNAVAILABLE, f"{what}無法使用：{exc.reason}", fix=exc.fix)
    except VRAMExhausted as exc:
        fail(ErrorCode.VRAM_EXHAUSTED, f"{what}：顯存不足（{exc}）",
             fix="free GPU memory (fewer models per GPU: AVATAR_GPU_PRESET) or set AVATAR_TTS_OOM_FALLBACK_ENGINE")
    except SoftTimeLimitExceeded:
        fail(ErrorCode.ENGINE_FAILED, f"{what}逾時（timed out）")
    except Exception as exc:
        fail(ErrorCode.INTERNAL, f"{what}發生錯誤：{type(exc).__name__}: {exc}")
        raise
    return {"failed": True}
