"""The ASGI application: FastAPI for REST, Socket.IO at ``/socket.io``, the page at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import socketio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import health, media, metrics, owners, resynthesis, sessions, voice_profiles
from api.routes import prosody as prosody_routes
from api.schemas import ErrorDetail, ValidationDetail, ValidationErrorOut, ValidationProblem
from api.security import check_secrets_for_bind
from api.socket import create_socket_server
from avatar.domain import ErrorCode
from avatar.outages import OUTAGES, BrokerUnavailable, outage_code
from avatar.services import Services
from avatar.settings import Settings, get_settings

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
PAGE_NOT_BUILT = (
    "<!doctype html><html lang='zh-TW'><meta charset='utf-8'><title>AVATAR 語音助理</title>"
    "<h1>AVATAR 語音助理</h1><p>聊天室頁面尚未建置：執行 <code>make up</code>（或 "
    "<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>）。The chat page is not built yet: "
    "run <code>make up</code>.</p><p><a href='/docs'>API 文件 / API docs</a> · "
    "<a href='/api/v1/health'>health</a></p></html>"
)


# The code of an error raised with a plain-string detail (routes name their own codes).
_STATUS_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "TOO_LARGE", 503: "UNAVAILABLE",
}


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every error answers ``detail {code, message}``; a plain-string detail (FastAPI's own
    404/405 among them) becomes the message under the status's code."""
    detail = exc.detail
    if not isinstance(detail, dict):
        detail = ErrorDetail(code=_STATUS_CODES.get(exc.status_code, "ERROR"), message=str(detail)).model_dump()
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 as ``detail {code: VALIDATION_ERROR, message, errors: [{loc, msg, type}]}``. The
    rejected input is not echoed back: it may be bytes, or large."""
    errors = [
        ValidationProblem(loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                          msg=str(e.get("msg", "")), type=str(e.get("type", "")))
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:5])
    body = ValidationErrorOut(detail=ValidationDetail(
        code="VALIDATION_ERROR", message=f"請求格式錯誤：{summary}（invalid request）", errors=errors,
    ))
    return JSONResponse(body.model_dump(), status_code=422)


# A server the API depends on is down (a restart, a network cut): the request is refused
# with a code and a hint to retry, instead of a bare 500. A database transaction that
# failed rolls back; a voice whose analysis could not be queued is marked `failed`, and a
# re-synthesis job whose queueing failed removes its record (avatar/resynthesis.py), so a
# retry starts clean.
_OUTAGE_MESSAGES = {
    ErrorCode.QUEUE_UNAVAILABLE: "佇列服務（Redis）暫時無法連線，請稍後再試（queue unavailable, retry）",
    ErrorCode.DATABASE_UNAVAILABLE: "資料庫暫時無法連線，請稍後再試（database unavailable, retry）",
}
_BROKER_DOWN = "工作佇列暫時無法連線，請稍後再試（broker unavailable, retry）"
UNAVAILABLE_RETRY_AFTER_S = 5


async def _dependency_down(_: Request, exc: Exception) -> JSONResponse:
    code = outage_code(exc)
    message = _BROKER_DOWN if isinstance(exc, BrokerUnavailable) else _OUTAGE_MESSAGES[code]
    return JSONResponse({"detail": {"code": code.value, "message": message}}, status_code=503,
                        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)})


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    """The whole API, wired once: one :class:`Services` for every route and handler."""
    settings = settings or get_settings()
    # Nothing signs without a secret key; off loopback, nothing signs with a guessable one.
    check_secrets_for_bind(settings, settings.api_host)
    services = Services.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.redis.close()

    api = FastAPI(title="AVATAR", version="0.1.0", docs_url="/docs", lifespan=lifespan)
    api.state.services = services
    api.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for unavailable in OUTAGES:
        api.add_exception_handler(unavailable, _dependency_down)
    for module in (sessions, health, metrics, media):
        api.include_router(module.router)
    api.include_router(prosody_routes.router)
    api.include_router(voice_profiles.router)
    api.include_router(resynthesis.router)
    api.include_router(owners.router)
    # Only the configured origins' pages may read answers (the credential is a bearer token,
    # never a cookie: no credentialed CORS).
    api.add_middleware(
        CORSMiddleware, allow_origins=settings.resolved_allowed_origins,
        allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
    )

    @api.get("/", include_in_schema=False, response_model=None)
    def index() -> FileResponse | HTMLResponse:
        built = WEB_DIR / "dist" / "index.html"
        if built.exists():
            return FileResponse(built, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PAGE_NOT_BUILT)

    # The page's hashed JS/CSS and the microphone worklet (built by `make up` into web/dist).
    api.mount("/assets", StaticFiles(directory=WEB_DIR / "dist" / "assets", check_dir=False), name="assets")

    sio = create_socket_server(services)
    return socketio.ASGIApp(sio, other_asgi_app=api, socketio_path="socket.io")
