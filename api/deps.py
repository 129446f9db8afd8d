"""FastAPI dependencies as ``Annotated`` aliases, all read from the one :class:`Services`
that ``create_app(settings)`` built (``app.state.services``): the settings the routes see
are the ones the app was created with.

``CallerDep`` is who asks (``Authorization: Bearer``: an owner token or the operator token;
401 without one); ``OwnedSessionDep`` / ``OwnedVoiceDep`` load the ``{session_id}`` /
``{profile_id}`` of the path only for its owner (or the operator): another owner's row
answers 404 exactly as a missing one, so ids never reveal that they exist."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session as DBSession

from api.security import Caller, caller_for_token
from avatar.db import Session, VoiceProfile, get_sessionmaker
from avatar.domain import ErrorCode
from avatar.services import Services
from avatar.settings import Settings
from avatar.storage import Storage

SESSION_NOT_FOUND_MESSAGE = "找不到此對話（session not found）"
VOICE_NOT_FOUND_MESSAGE = "找不到此聲音檔（voice profile not found）"
UNAUTHORIZED_MESSAGE = (
    "缺少或無效的憑證：請先以 POST /api/v1/owners 取得 owner_token，再以 Authorization: Bearer 送出"
    "（missing or invalid owner credential）"
)

# Shown in /docs as the "Authorize" button; a missing header is ours to answer (401, code).
_bearer = HTTPBearer(
    auto_error=False, scheme_name="OwnerToken",
    description="`owner_token` from `POST /api/v1/owners`, or the operator token (AVATAR_OPERATOR_TOKEN)",
)


def api_error(status: int, code: str, message: str) -> HTTPException:
    """Every REST refusal: ``detail {code, message}``."""
    return HTTPException(status, detail={"code": code, "message": message})


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_app_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_db(services: ServicesDep) -> Iterator[DBSession]:
    db = get_sessionmaker(services.settings.resolved_database_url)()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def storage_dep(services: ServicesDep) -> Storage:
    return services.storage


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DBDep = Annotated[DBSession, Depends(get_db)]
StorageDep = Annotated[Storage, Depends(storage_dep)]


def get_caller(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    caller = caller_for_token(services.settings, credentials.credentials) if credentials else None
    if caller is None:
        raise HTTPException(
            401, detail={"code": ErrorCode.UNAUTHORIZED.value, "message": UNAUTHORIZED_MESSAGE},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def owned_session(db: DBDep, caller: CallerDep, session_id: uuid.UUID) -> Session:
    session = db.get(Session, session_id)
    if session is None or not caller.owns(session.owner_id):
        raise api_error(404, ErrorCode.SESSION_NOT_FOUND.value, SESSION_NOT_FOUND_MESSAGE)
    return session


def owned_voice(db: DBDep, caller: CallerDep, profile_id: uuid.UUID) -> VoiceProfile:
    row = db.get(VoiceProfile, profile_id)
    if row is None or not caller.owns(row.owner_id):
        raise api_error(404, "VOICE_NOT_FOUND", VOICE_NOT_FOUND_MESSAGE)
    return row


OwnedSessionDep = Annotated[Session, Depends(owned_session)]
OwnedVoiceDep = Annotated[VoiceProfile, Depends(owned_voice)]
