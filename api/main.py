"""The ASGI application: FastAPI for REST, Socket.IO at ``/socket.io``, the page at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import socketio
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.routes import health, media, metrics, resynthesis, sessions, voice_profiles
from api.routes import prosody as prosody_routes
from api.socket import create_socket_server
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


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    """The whole API, wired once: one :class:`Services` for every route and handler."""
    settings = settings or get_settings()
    services = Services.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.redis.close()

    api = FastAPI(title="AVATAR", version="0.1.0", docs_url="/docs", lifespan=lifespan)
    api.state.services = services
    for module in (sessions, health, metrics, media):
        api.include_router(module.router)
    api.include_router(prosody_routes.router)
    api.include_router(voice_profiles.router)
    api.include_router(resynthesis.router)

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
