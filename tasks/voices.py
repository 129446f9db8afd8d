"""Speech outside a live turn: voice previews (``tts_fast`` / ``tts_hq``) and batch
re-synthesis of past turns (``batch`` in HQ, ``batch_fast`` in the fast tier). Their HQ work
waits for the single HQ slot like every other HQ job (:func:`tasks.tts.retry_for_slot`)."""

from __future__ import annotations

from typing import Any

from celery import Task

from avatar import jobs
from avatar.jobs import PreviewJob, ResynthesisJob
from tasks.celery_app import app
from tasks.context import current
from tasks.tts import SLOT_WAIT_MAX_RETRIES, retry_for_slot
from workers.gpu_guard import SlotBusy
from workers.resynthesis import run_resynthesis
from workers.voice_previews import preview_failed, run_preview

# A batch waits behind live HQ work for as long as it takes (its time limit is a day):
# a retry every two seconds, for up to a day.
BATCH_SLOT_WAIT_S = 2
BATCH_SLOT_WAIT_MAX_RETRIES = 24 * 3600 // BATCH_SLOT_WAIT_S


def _preview(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = PreviewJob.model_validate(payload)
    ctx = current()
    try:
        return run_preview(ctx, job)
    except SlotBusy as exc:  # the preview stays ``pending`` while it waits
        if task.request.retries >= SLOT_WAIT_MAX_RETRIES:
            preview_failed(ctx, job, "高品質模型忙碌中，請稍後再試（HQ slot busy）")
            return {"failed": "HQ slot busy"}
        raise retry_for_slot(task, exc) from exc


@app.task(name=jobs.PREVIEW_FAST.task, bind=True)
def preview_fast(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _preview(self, payload)


@app.task(name=jobs.PREVIEW_HQ.task, bind=True)
def preview_hq(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _preview(self, payload)


def _resynthesize(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = ResynthesisJob.model_validate(payload)
    try:
        return run_resynthesis(current(), job)
    except SlotBusy as exc:  # resumes at the turn that found the slot taken
        raise retry_for_slot(task, exc, countdown=BATCH_SLOT_WAIT_S,
                             max_retries=BATCH_SLOT_WAIT_MAX_RETRIES) from exc


@app.task(name=jobs.RESYNTHESIS.task, bind=True)
def resynthesize(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _resynthesize(self, payload)


@app.task(name=jobs.RESYNTHESIS_FAST.task, bind=True)
def resynthesize_fast(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _resynthesize(self, payload)
