"""Voice profiles: upload a 5-30 s sample, list, show, delete, preview in each tier."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import DBDep, SettingsDep, StorageDep
from avatar.db import VoiceProfile
from avatar.redis import get_redis
from workers.voice_previews import preview_state, request_previews
from workers.voice_profiles import (
    VoiceRejected,
    check_size,
    extension_of,
    local_reference_path,
    process_upload,
    reference_key,
    wav_bytes,
)
from avatar.storage.keys import voice_profile_key

router = APIRouter(prefix="/api/v1/voice-profiles", tags=["voice profiles"])


class VoiceProfileOut(BaseModel):
    profile_id: uuid.UUID
    name: str
    duration_sec: float
    transcript: str
    transcript_status: str  # given | pending | done | unavailable
    prosody: dict[str, float]
    url: str  # the normalised reference (signed, expires)
    original_url: str
    created_at: Any


class PreviewRequest(BaseModel):
    text: str | None = None
    style: str | None = None


def _out(row: VoiceProfile, storage: StorageDep) -> VoiceProfileOut:
    meta = row.meta or {}
    return VoiceProfileOut(
        profile_id=row.profile_id, name=row.name, duration_sec=row.duration_sec,
        transcript=meta.get("transcript", ""), transcript_status=meta.get("transcript_status", ""),
        prosody=meta.get("prosody", {}), url=storage.url(row.audio_url),
        original_url=storage.url(meta.get("original_key", row.audio_url)), created_at=row.created_at,
    )


def _reject(exc: VoiceRejected) -> HTTPException:
    return HTTPException(exc.status, detail={"code": exc.code, "message": exc.message})


def _get(db: DBDep, profile_id: uuid.UUID) -> VoiceProfile:
    row = db.get(VoiceProfile, profile_id)
    if row is None:
        raise HTTPException(404, detail={"code": "VOICE_NOT_FOUND", "message": "找不到此聲音檔（voice profile not found）"})
    return row


@router.post("", status_code=201, response_model=VoiceProfileOut)
async def create_voice_profile(
    db: DBDep, storage: StorageDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="wav, mp3, m4a, ogg, webm or flac; 5-30 s of speech")],
    name: Annotated[str, Form(min_length=1, max_length=255)],
    transcript: Annotated[str, Form(max_length=2000)] = "",
) -> VoiceProfileOut:
    limit = int(settings.voice_upload_max_mb * 1024 * 1024)
    data = await file.read(limit + 1)  # never more than the limit in memory
    try:
        check_size(len(data), settings)
        processed = await run_in_threadpool(process_upload, data, settings)
    except VoiceRejected as exc:
        raise _reject(exc) from exc
    profile_id = uuid.uuid4()
    original_key = voice_profile_key(profile_id, f"original.{extension_of(file.filename)}")
    storage.put(original_key, data, content_type=file.content_type or "application/octet-stream")
    storage.put(reference_key(profile_id), wav_bytes(processed.reference, processed.sample_rate))
    transcript = transcript.strip()
    row = VoiceProfile(
        profile_id=profile_id, name=name.strip(), audio_url=reference_key(profile_id),
        embedding=processed.embedding, duration_sec=processed.duration_s,
        meta={
            "original_key": original_key, "filename": file.filename, "sample_rate": processed.sample_rate,
            "transcript": transcript, "transcript_status": "given" if transcript else "pending",
            "prosody": processed.prosody, "adaptation": processed.adaptation,
        },
    )
    db.add(row)
    db.commit()  # the transcription job and the client may read it at once
    if not transcript:
        from tasks.voices import enqueue_reference_transcript

        try:
            enqueue_reference_transcript(str(profile_id))
        except Exception:  # broker down: the profile stands; lite needs no transcript
            meta = dict(row.meta)
            meta["transcript_status"] = "unavailable"
            row.meta = meta
            db.commit()
    return _out(row, storage)


@router.get("", response_model=list[VoiceProfileOut])
def list_voice_profiles(db: DBDep, storage: StorageDep) -> list[VoiceProfileOut]:
    rows = db.query(VoiceProfile).order_by(VoiceProfile.created_at.desc()).all()
    return [_out(r, storage) for r in rows]


@router.get("/{profile_id}", response_model=VoiceProfileOut)
def get_voice_profile(db: DBDep, storage: StorageDep, profile_id: uuid.UUID) -> VoiceProfileOut:
    return _out(_get(db, profile_id), storage)


@router.delete("/{profile_id}", status_code=204)
def delete_voice_profile(db: DBDep, storage: StorageDep, settings: SettingsDep, profile_id: uuid.UUID) -> None:
    row = _get(db, profile_id)
    storage.delete_prefix(f"voice_profiles/{profile_id}/")
    db.delete(row)
    shutil.rmtree(local_reference_path(settings, str(profile_id)).parent, ignore_errors=True)
    get_redis(settings.redis_url).delete(f"avatar:voice_preview:{profile_id}")


@router.post("/{profile_id}/preview")
async def preview_voice_profile(
    db: DBDep, settings: SettingsDep, profile_id: uuid.UUID, body: PreviewRequest | None = None,
) -> dict[str, Any]:
    """Speak a short text in each tier (``fast`` and ``hq``) with this voice; waits up to
    ``AVATAR_VOICE_PREVIEW_WAIT_S`` and returns each tier's state (``ready`` with a ``url``,
    ``pending``, or ``failed`` with the reason). ``GET`` the same path to poll."""
    _get(db, profile_id)
    text = (body.text if body and body.text else settings.voice_preview_text).strip()
    await run_in_threadpool(request_previews, str(profile_id), text, body.style if body else None, settings)
    deadline = time.monotonic() + settings.voice_preview_wait_s
    while True:
        state = await run_in_threadpool(preview_state, str(profile_id), settings)
        if all(s.get("status") != "pending" for s in state.values()) or time.monotonic() > deadline:
            return {"profile_id": str(profile_id), "text": text, "tiers": state}
        await asyncio.sleep(0.2)


@router.get("/{profile_id}/preview")
def get_preview(db: DBDep, settings: SettingsDep, profile_id: uuid.UUID) -> dict[str, Any]:
    _get(db, profile_id)
    return {"profile_id": str(profile_id), "tiers": preview_state(str(profile_id), settings)}
