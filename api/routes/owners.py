"""Owner credentials: a browser (or a terminal client) gets one once and keeps it.

Nothing is stored: the token is an HMAC of a new owner id (``api/security.py``), so this
needs no user system and no credential of its own. Whoever holds the token is the owner of
the sessions and voices it creates; losing it loses them (only the operator still sees
them).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import SettingsDep
from api.security import new_owner

router = APIRouter(prefix="/api/v1/owners", tags=["owners"])


class OwnerCreated(BaseModel):
    owner_id: uuid.UUID
    owner_token: str  # send as `Authorization: Bearer <owner_token>` on every REST call


@router.post("", status_code=201, response_model=OwnerCreated)
def create_owner(settings: SettingsDep) -> OwnerCreated:
    owner_id, token = new_owner(settings)
    return OwnerCreated(owner_id=owner_id, owner_token=token)
