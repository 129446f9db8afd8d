"""Voice profiles: upload a 5-30 s sample, list, show, delete, preview in each tier.

An upload answers at once with the profile in ``processing``: the API runs only the cheap
checks (PyAV + numpy); the analysis that needs models runs on the ``prosody`` lane and
makes the profile ``ready`` or ``failed``. Clients poll ``GET /{id}`` (or listen for
``voice_profile_state`` in the session given at upload).

Samples are biometric data: a profile is its uploader's (``CallerDep``); every route loads it
through ``OwnedVoiceDep``, so another owner's id answers 404 as an unknown one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import SESSION_NOT_FOUND_MESSAGE, CallerDep, DBDep, OwnedVoiceDep, ServicesDep, StorageDep
from api.schemas import UTCDateTime, error_responses
from avatar.db import Session, VoiceProfile
from avatar.domain import ErrorCode, SessionStatus
from avatar.previews import forget_previews, preview_state, request_previews
from avatar.voice_upload import (
    READY,
    AnalysisNotQueued,
    VoiceRejected,
    check_upload,
    create_profile,
    local_reference_path,
    profile_error,
    profile_prefix,
    profile_status,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/voice-profiles", tags=["voice profiles"])


class VoiceError(BaseModel):
    code: str
    message: str


class VoiceProfileOut(BaseModel):
    profile_id: uuid.UUID
    name: str
    status: Literal["processing", "ready", "failed"]
    error: VoiceError | None = None  # why the analysis failed
    duration_sec: float
    transcript: str
    transcript_status: str  # given | pending | done | unavailable
    prosody: dict[str, float]  # empty until ready
    url: str  # the normalised reference (signed, expires; exists once ready)
    original_url: str
    created_at: UTCDateTime


class PreviewRequest(BaseModel):
    text: str | None = None
    style: str | None = None


def _out(row: VoiceProfile, storage: StorageDep) -> VoiceProfileOut:
    meta = row.meta or {}
    error = profile_error(meta)
    return VoiceProfileOut(
        profile_id=row.profile_id, name=row.name, status=profile_status(meta),
        error=VoiceError(**error) if error else None, duration_sec=row.duration_sec,
        transcript=meta.get("transcript", ""), transcript_status=meta.get("transcript_status", ""),
        prosody=meta.get("prosody", {}), url=storage.url(row.audio_url),
        original_url=storage.url(meta.get("original_key", row.audio_url)), created_at=row.created_at,
    )


def _refuse(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"code": code, "message": message})


def _require_ready(row: VoiceProfile) -> None:
    if profile_status(row.meta) != READY:
        raise _refuse(409, ErrorCode.VOICE_NOT_READY.value,
                      "此聲音仍在分析中或分析失敗，完成後才能試聽（voice profile not ready）")


@router.post("", status_code=201, response_model=VoiceProfileOut, responses=error_responses(400, 401, 404, 413, 422, 503))
async def create_voice_profile(
    db: DBDep, services: ServicesDep, caller: CallerDep,
    file: Annotated[UploadFile, File(description="wav, mp3, m4a, ogg, webm or flac; 5-30 s of speech")],
    name: Annotated[str, Form(min_length=1, max_length=255)],
    transcript: Annotated[str, Form(max_length=2000)] = "",
    session_id: Annotated[uuid.UUID | None, Form(description="told voice_profile_state when ready")] = None,
) -> VoiceProfileOut:
    """Checks the sample (size, format, silence, clipping, speech length: 413/422 with a
    code), stores it as the caller's and answers at once with the profile in ``processing``.
    ``session_id``, when given, must be one of the caller's sessions (404 otherwise)."""
    if session_id is not None:
        session = await run_in_threadpool(db.get, Session, session_id)
        if session is None or not caller.owns(session.owner_id):
            raise _refuse(404, ErrorCode.SESSION_NOT_FOUND.value, SESSION_NOT_FOUND_MESSAGE)
    settings = services.settings
    limit = int(settings.voice_upload_max_mb * 1024 * 1024)
    data = await file.read(limit + 1)  # never more than the limit in memory
    try:
        checked = await run_in_threadpool(check_upload, data, settings)
        profile_id = await run_in_threadpool(
            create_profile, services, data, checked, name=name, filename=file.filename,
            content_type=file.content_type, transcript=transcript, session_id=session_id,
            owner_id=caller.owner_id,
        )
    except VoiceRejected as exc:
        raise _refuse(exc.status, exc.code, exc.message) from exc
    except AnalysisNotQueued as exc:
        raise _refuse(503, exc.code, exc.message) from exc
    return _out(await run_in_threadpool(db.get, VoiceProfile, profile_id), services.storage)


@router.get("", response_model=list[VoiceProfileOut], responses=error_responses(401))
def list_voice_profiles(db: DBDep, storage: StorageDep, caller: CallerDep) -> list[VoiceProfileOut]:
    """The caller's voices, newest first (the operator's listing has everyone's)."""
    query = db.query(VoiceProfile)
    if not caller.is_operator:
        query = query.filter(VoiceProfile.owner_id == caller.owner_id)
    return [_out(r, storage) for r in query.order_by(VoiceProfile.created_at.desc()).all()]


@router.get("/{profile_id}", response_model=VoiceProfileOut, responses=error_responses(401, 404, 422))
def get_voice_profile(row: OwnedVoiceDep, storage: StorageDep) -> VoiceProfileOut:
    return _out(row, storage)


@router.delete("/{profile_id}", status_code=204, responses=error_responses(401, 404, 422))
def delete_voice_profile(db: DBDep, services: ServicesDep, row: OwnedVoiceDep) -> None:
    """Sessions speaking with this voice fall back to the default voice and each active one
    is told (``error {code: VOICE_DELETED, voice_profile_id}``); a sentence in flight is
    spoken with the default voice. Past renderings keep their rows and files, their
    ``voice_profile_id`` set NULL (the foreign key's ON DELETE SET NULL)."""
    profile_id = row.profile_id
    speaking = db.scalars(
        select(Session).where(Session.meta["voice_profile_id"].as_string() == str(profile_id))
    ).all()
    for session in speaking:
        session.meta = {**(session.meta or {}), "voice_profile_id": None}
    db.delete(row)
    db.commit()  # first: from here on no job finds the profile, so none reads its files below
    services.storage.delete_prefix(profile_prefix(profile_id))
    shutil.rmtree(local_reference_path(services.settings, str(profile_id)).parent, ignore_errors=True)
    forget_previews(services, str(profile_id))
    for session in speaking:
        if session.status != SessionStatus.ACTIVE:
            continue
        try:
            services.emitter.error(
                session.session_id, ErrorCode.VOICE_DELETED,
                "此對話使用的聲音已刪除，之後的回覆改用預設聲音（voice deleted; the default voice speaks from now on）",
                voice_profile_id=str(profile_id),
            )
        except Exception:  # the notice is a courtesy: the deletion itself is done
            log.exception("could not tell session %s that its voice was deleted", session.session_id)


@router.post("/{profile_id}/preview", responses=error_responses(400, 401, 404, 409, 422))
async def preview_voice_profile(
    services: ServicesDep, row: OwnedVoiceDep, body: PreviewRequest | None = None,
) -> dict[str, Any]:
    """Speak a short text in each tier (``fast`` and ``hq``) with this voice; waits up to
    ``AVATAR_VOICE_PREVIEW_WAIT_S`` and returns each tier's state (``ready`` with a ``url``,
    ``pending``, or ``failed`` with the reason). ``GET`` the same path to poll. A profile
    that is not ready yet: 409 ``VOICE_NOT_READY``."""
    _require_ready(row)
    profile_id = row.profile_id
    settings = services.settings
    text = (body.text if body and body.text else settings.voice_preview_text).strip()
    await run_in_threadpool(request_previews, services, str(profile_id), text, body.style if body else None)
    deadline = time.monotonic() + settings.voice_preview_wait_s
    while True:
        state = await run_in_threadpool(preview_state, services, str(profile_id))
        if all(s.get("status") != "pending" for s in state.values()) or time.monotonic() > deadline:
            return {"profile_id": str(profile_id), "text": text, "tiers": state}
        await asyncio.sleep(0.2)


@router.get("/{profile_id}/preview", responses=error_responses(401, 404, 422))
def get_preview(services: ServicesDep, row: OwnedVoiceDep) -> dict[str, Any]:
    profile_id = row.profile_id
    return {"profile_id": str(profile_id), "tiers": preview_state(services, str(profile_id))}
