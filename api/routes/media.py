"""Serves local-storage audio behind the signed URLs that ``LocalStorage.url()`` issues.

With the MinIO backend, browsers fetch presigned URLs from the object store directly, so
this route only answers for the local backend. The signature check replaces a login: the
link itself is the (expiring) capability to play one file.
"""

from __future__ import annotations

import mimetypes
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from api.deps import storage_dep
from api.schemas import error_responses
from avatar.storage import InvalidStorageKey, LocalStorage, Storage, validate_key

__all__ = ["get_media_storage", "media_type_for", "router"]

router = APIRouter(tags=["media"])

# mimetypes says audio/x-wav on many systems; browsers and the spec want audio/wav.
_AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".webm": "audio/webm",
    ".m4a": "audio/mp4",
}


# The application's one storage dependency (api.deps); overriding it moves every route.
get_media_storage = storage_dep


def media_type_for(key: str) -> str:
    """Content type from the key's extension (local files carry no stored metadata)."""
    dot = key.rfind(".")
    ext = key[dot:].lower() if dot > key.rfind("/") else ""
    return _AUDIO_TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


@router.get("/api/v1/media/{key:path}", response_class=FileResponse, responses=error_responses(400, 403, 404, 422))
def get_media(
    key: str,
    storage: Annotated[Storage, Depends(get_media_storage)],
    exp: Annotated[str | None, Query(description="expiry, unix seconds")] = None,
    sig: Annotated[str | None, Query(description="HMAC-SHA256 signature, hex")] = None,
) -> FileResponse:
    """Return the file if the signature is valid and unexpired.

    400 invalid key, 403 missing/bad/expired signature, 404 unknown key or non-local backend.
    The key is checked before the signature so a traversal attempt never reaches the disk.
    """
    if not isinstance(storage, LocalStorage):
        raise HTTPException(
            404, f"media is served by the object store ({storage.name}); use its presigned URL"
        )
    try:
        validate_key(key)
    except InvalidStorageKey as exc:
        raise HTTPException(400, f"invalid media key: {exc}") from exc
    if not exp or not sig:
        raise HTTPException(403, "missing signature (exp and sig are required)")
    try:
        exp_i = int(exp)
    except ValueError:
        raise HTTPException(403, "invalid signature") from None
    if time.time() > exp_i:
        raise HTTPException(403, "link expired")
    if not storage.verify(key, exp_i, sig):
        raise HTTPException(403, "invalid signature")
    try:
        path = storage.path_for(key)
    except InvalidStorageKey as exc:
        raise HTTPException(400, f"invalid media key: {exc}") from exc
    if not path.is_file():
        raise HTTPException(404, "media not found")
    return FileResponse(
        path, media_type=media_type_for(key), headers={"Cache-Control": "private, max-age=60"}
    )
