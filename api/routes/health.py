"""``/api/v1/health``: every component, so ``make up`` (and an operator) can see what is
missing and how to fix it. ``status`` is ``ok`` when the infrastructure answers and every
lane has a live worker; engines without weights are reported (by the workers that run them,
:mod:`avatar.engine_reports`) but do not make it ``down``."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import ServicesDep
from avatar import engine_envs
from avatar.db import get_engine
from avatar.engine_reports import engine_reports
from avatar.lanes import lane_workers, queue_lengths
from avatar.licences import licence_report
from gpu_scheduler.state import scheduler_snapshot

router = APIRouter(prefix="/api/v1", tags=["health"])

_PACKAGES = ("avatar", "celery", "redis", "fastapi", "python-socketio", "sqlalchemy", "openai", "transformers", "torch")


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _check(fn: Any) -> dict[str, Any]:
    try:
        detail = fn()
        return {"ok": True, **(detail or {})}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _engines(client: Any, settings: Any) -> dict[str, Any]:
    try:
        return engine_reports(client, settings)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _engine_envs(settings: Any) -> dict[str, Any]:
    """Each engine environment this profile needs: built, or why not and the command that builds it."""
    found: dict[str, Any] = {}
    for name in engine_envs.required_envs(settings):
        why = engine_envs.missing(name)
        found[name] = {"built": why is None, "path": str(engine_envs.env_dir(name)) if why is None else "",
                       "reason": why or "", "fix": f"avatar engines install {name}" if why else ""}
    return found


@router.get("/health", responses={503: {"description": "Redis, the database or storage is down (same body)"}})
def health(services: ServicesDep, response: Response) -> dict[str, Any]:
    settings, storage, client = services.settings, services.storage, services.redis

    def check_db() -> dict[str, Any]:
        with get_engine(settings.resolved_database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"backend": get_engine(settings.resolved_database_url).dialect.name}

    def check_storage() -> dict[str, Any]:
        storage.check()
        return {"backend": storage.name}

    components = {
        "redis": _check(lambda: {"ping": client.ping()}),
        "database": _check(check_db),
        "storage": _check(check_storage),
    }
    lanes: dict[str, Any] = {}
    if components["redis"]["ok"]:
        try:
            workers = lane_workers(services.dispatcher)
            depth = queue_lengths(client)
            lanes = {lane: {"workers": workers[lane], "queued": depth[lane]} for lane in workers}
        except Exception as exc:
            components["lanes"] = {"ok": False, "error": str(exc)}
    scheduler: dict[str, Any] = {}
    if components["redis"]["ok"]:
        try:
            scheduler = scheduler_snapshot(client, settings)
        except Exception as exc:
            scheduler = {"error": f"{type(exc).__name__}: {exc}"}
    all_lanes_served = bool(lanes) and all(info["workers"] for info in lanes.values())
    infra_ok = all(c["ok"] for c in components.values())
    status = "ok" if infra_ok and all_lanes_served else ("degraded" if infra_ok else "down")
    if status == "down":
        response.status_code = 503
    return {
        "status": status,
        "profile": settings.profile,
        "components": components,
        "lanes": lanes,
        "engines": _engines(client, settings) if components["redis"]["ok"] else {},
        "engine_envs": _engine_envs(settings),
        "licences": licence_report(settings),  # each configured engine's weights and their licence
        "scheduler": scheduler,
        "versions": _versions(),
    }
