"""``tts_fast`` / ``tts_hq`` lanes: speak one sentence of a reply; render a whole turn in HQ
(mode ``both``).

Every HQ job waits for the single HQ slot the same way: the stage raises ``SlotBusy`` and
the task goes back to the broker with a countdown (:func:`retry_for_slot`), holding no
worker process meanwhile.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from avatar import jobs
from avatar.jobs import HQTurnJob, SpeechJob
from tasks.celery_app import app
from tasks.context import current
from tasks.guard import run_guarded
from workers.cloning import hq_turn_failed, render_hq_turn
from workers.gpu_guard import DegradeToFast, SlotBusy
from workers.speech import run_speech, speak_fast_instead, speech_failed

# Waiting for the HQ slot: a retry a second for up to ten minutes (a hung holder is killed
# by its time limit long before, and a dead one's lock expires).
SLOT_WAIT_MAX_RETRIES = 600


def retry_for_slot(task: Task, exc: SlotBusy, *, countdown: float = 1,
                   max_retries: int = SLOT_WAIT_MAX_RETRIES) -> Exception:
    """The retry to raise. Its own cap, apart from the engine's retries (``max_retries=None``
    would mean the task's default in Celery, not "unlimited")."""
    return task.retry(exc=exc, countdown=countdown, max_retries=max_retries)


def _speak(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = SpeechJob.model_validate(payload)
    ctx = current()
    try:
        return run_guarded(
            task, partial(run_speech, ctx, job), partial(speech_failed, ctx, job), what="語音合成",
            backoff_cap_s=10, passthrough=(SlotBusy, DegradeToFast),
        )
    except SlotBusy as exc:
        raise retry_for_slot(task, exc) from exc
    except DegradeToFast as exc:  # spoken by the fast engine instead, in its place in the order
        return speak_fast_instead(ctx, job, exc)


@app.task(name=jobs.SPEECH_FAST.task, bind=True)
def synthesize_fast(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


@app.task(name=jobs.SPEECH_HQ.task, bind=True)
def synthesize_hq(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _speak(self, payload)


@app.task(name=jobs.HQ_TURN.task, bind=True)
def render_turn(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = HQTurnJob.model_validate(payload)
    ctx = current()
    try:
        return render_hq_turn(ctx, job)
    except SlotBusy as exc:  # another HQ job holds the single slot
        raise retry_for_slot(self, exc) from exc
    except DegradeToFast as exc:  # breaker open or VRAM exhausted: the fast audio stays
        hq_turn_failed(ctx, job, f"{exc.code}: {exc.message}")
    except SoftTimeLimitExceeded:
        hq_turn_failed(ctx, job, "timed out")
    except Exception as exc:
        hq_turn_failed(ctx, job, f"{type(exc).__name__}: {exc}")
    return {"turn_id": job.turn_id, "hq": "unavailable"}
