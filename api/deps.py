"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session as DBSession

from avatar.db import get_sessionmaker
from avatar.settings import Settings, get_settings
from avatar.storage import Storage, get_storage


def get_db() -> Iterator[DBSession]:
    db = get_sessionmaker()()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def storage_dep() -> Storage:
    return get_storage()


SettingsDep = Annotated[Settings, Depends(get_settings)]
DBDep = Annotated[DBSession, Depends(get_db)]
StorageDep = Annotated[Storage, Depends(storage_dep)]
