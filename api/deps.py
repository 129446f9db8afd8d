"""FastAPI dependencies as ``Annotated`` aliases, all read from the one :class:`Services`
that ``create_app(settings)`` built (``app.state.services``): the settings the routes see
are the ones the app was created with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session as DBSession

from avatar.db import get_sessionmaker
from avatar.services import Services
from avatar.settings import Settings
from avatar.storage import Storage


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
