"""Cloning jobs: the reference transcript (``asr``), voice previews (``tts_fast`` /
``tts_hq``), a turn's HQ rendering in mode ``both`` (``tts_hq``) and batch re-synthesis
(``batch``).

The reference transcript runs off the request path on the ``asr`` lane: the upload answers
at once (the ``lite`` engine needs no transcript), the ASR model stays in the ASR workers
(never loaded into the API process), and a missing ASR engine only leaves the profile
flagged ``transcript_status: unavailable``.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from avatar.domain import Lane, Priority, TTSMode
from avatar.settings import get_settings
from tasks.celery_app import app
from workers.hq_guard import DegradeToFast, SlotBusy

_settings = get_settings()
SLOT_WAIT_MAX_RETRIES = 600


@app.task(name="avatar.asr.reference_transcript", bind=True, max_retries=_settings.task_max_retries,
          soft_time_limit=_settings.tts_soft_time_limit_s * 2, time_limit=_settings.tts_time_limit_s * 2)
def reference_transcript(self: Task, profile_id: str) -> dict[str, Any]:
    from workers.reference_transcript import transcribe_reference

    return transcribe_reference(profile_id)


def enqueue_reference_transcript(profile_id: str) -> None:
    reference_transcript.apply_async(args=[profile_id], queue=Lane.ASR.value, priority=Priority.PROSODY)


def _preview(mode: TTSMode, profile_id: str, text: str, style: str | None) -> dict[str, Any]:
    from workers.voice_previews import run_preview

    return run_preview(profile_id, mode, text, style, get_settings())


@app.task(name="avatar.tts.fast.preview", soft_time_limit=_settings.tts_soft_time_limit_s,
          time_limit=_settings.tts_time_limit_s)
def preview_fast(profile_id: str, text: str, style: str | None = None) -> dict[str, Any]:
    return _preview(TTSMode.FAST, profile_id, text, style)


@app.task(name="avatar.tts.hq.preview", soft_time_limit=_settings.tts_soft_time_limit_s,
          time_limit=_settings.tts_time_limit_s)
def preview_hq(profile_id: str, text: str, style: str | None = None) -> dict[str, Any]:
    return _preview(TTSMode.HQ, profile_id, text, style)


def enqueue_preview(profile_id: str, mode: TTSMode, text: str, style: str | None) -> None:
    if mode is TTSMode.HQ:
        preview_hq.apply_async(args=[profile_id, text, style], queue=Lane.TTS_HQ.value, priority=Priority.HQ_UPGRADE)
    else:
        preview_fast.apply_async(args=[profile_id, text, style], queue=Lane.TTS_FAST.value,
                                 priority=Priority.LATER_SENTENCE)


@app.task(name="avatar.tts.hq.render_turn", bind=True, max_retries=SLOT_WAIT_MAX_RETRIES,
          soft_time_limit=_settings.hq_turn_time_limit_s, time_limit=_settings.hq_turn_time_limit_s + 30)
def render_turn(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    from workers.cloning import HQTurnJob, hq_turn_failed, render_hq_turn

    job = HQTurnJob.model_validate(payload)
    try:
        return render_hq_turn(job)
    except SlotBusy as exc:  # another HQ job holds the single slot: wait without spinning
        raise self.retry(exc=exc, countdown=1) from exc
    except DegradeToFast as exc:  # breaker open or VRAM exhausted: the fast audio stays
        hq_turn_failed(job, f"{exc.code}: {exc.message}")
    except SoftTimeLimitExceeded:
        hq_turn_failed(job, "timed out")
    except Exception as exc:
        hq_turn_failed(job, f"{type(exc).__name__}: {exc}")
    return {"turn_id": job.turn_id, "hq": "unavailable"}


def enqueue_hq_turn(payload: dict[str, Any]) -> None:
    render_turn.apply_async(args=[payload], queue=Lane.TTS_HQ.value, priority=Priority.HQ_UPGRADE)


@app.task(name="avatar.batch.resynthesize", bind=True, acks_late=True,
          soft_time_limit=24 * 3600, time_limit=24 * 3600 + 60)
def resynthesize(self: Task, job_id: str) -> dict[str, Any]:
    from workers.resynthesis import run_resynthesis

    return run_resynthesis(job_id)


def enqueue_resynthesis(job_id: str) -> None:
    resynthesize.apply_async(args=[job_id], queue=Lane.BATCH.value, priority=Priority.BATCH)
