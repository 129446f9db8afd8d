"""Batch re-synthesis of past turns: start a job, read its progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, model_validator

from api.deps import SettingsDep
from avatar.domain import TTSMode
from workers.resynthesis import UnknownTarget, create_job, progress

router = APIRouter(prefix="/api/v1/resynthesis", tags=["resynthesis"])


class ResynthesisRequest(BaseModel):
    session_id: uuid.UUID | None = None
    since: datetime | None = None
    voice_profile_id: uuid.UUID | None = None
    mode: TTSMode = TTSMode.HQ

    @model_validator(mode="after")
    def _one_selection(self) -> ResynthesisRequest:
        if (self.session_id is None) == (self.since is None):
            raise ValueError("give exactly one of session_id or since")
        if self.mode is TTSMode.BOTH:
            raise ValueError("mode must be fast or hq")
        return self


@router.post("", status_code=202)
def start(body: ResynthesisRequest, settings: SettingsDep) -> dict[str, Any]:
    from tasks.voices import enqueue_resynthesis

    try:
        job = create_job(
            session_id=str(body.session_id) if body.session_id else None, since=body.since,
            voice_profile_id=str(body.voice_profile_id) if body.voice_profile_id else None,
            mode=body.mode, settings=settings,
        )
    except UnknownTarget as exc:
        raise HTTPException(404, detail={"code": exc.code, "message": exc.message}) from None
    enqueue_resynthesis(job["job_id"])
    return {**job, "status_url": f"/api/v1/resynthesis/{job['job_id']}"}


@router.get("/{job_id}")
def get_progress(job_id: str, settings: SettingsDep) -> dict[str, Any]:
    state = progress(job_id, settings)
    if not state:
        raise HTTPException(404, detail={"code": "JOB_NOT_FOUND", "message": "找不到此工作（job not found）"})
    return state
