"""Batch re-synthesis of past turns: start a job, read its progress. An owner re-renders
only their own sessions with their own voices (``since`` means their turns since then) and
reads only their own jobs; the operator any."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, model_validator

from api.deps import CallerDep, ServicesDep
from api.schemas import error_responses
from avatar.domain import ErrorCode, TTSMode
from avatar.resynthesis import UnknownTarget, create_job, progress

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


@router.post("", status_code=202, responses=error_responses(400, 401, 404, 409, 422, 503))
def start(body: ResynthesisRequest, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    try:
        job = create_job(
            services, session_id=str(body.session_id) if body.session_id else None, since=body.since,
            voice_profile_id=str(body.voice_profile_id) if body.voice_profile_id else None, mode=body.mode,
            owner_id=caller.owner_id,
        )
    except UnknownTarget as exc:
        status = 409 if exc.code == ErrorCode.VOICE_NOT_READY else 404
        raise HTTPException(status, detail={"code": exc.code, "message": exc.message}) from None
    return {**job, "status_url": f"/api/v1/resynthesis/{job['job_id']}"}


@router.get("/{job_id}", responses=error_responses(401, 404, 422, 503))
def get_progress(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    state = progress(services, job_id)
    if not state or not (caller.is_operator or state.get("owner_id") == str(caller.owner_id)):
        raise HTTPException(404, detail={"code": "JOB_NOT_FOUND", "message": "找不到此工作（job not found）"})
    return state
