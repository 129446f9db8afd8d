"""The ASGI application: FastAPI for REST, Socket.IO at ``/socket.io``, the page at ``/``."""

from __future__ import annotations

from pathlib import Path

import socketio
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

from api.routes import health, media, metrics, resynthesis, sessions, voice_profiles
from api.routes import prosody as prosody_routes
from api.socket import create_socket_server
from avatar.settings import Settings, get_settings

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    settings = settings or get_settings()
    api = FastAPI(title="AVATAR", version="0.1.0", docs_url="/docs")
    for module in (sessions, health, metrics, media):
        api.include_router(module.router)
    api.include_router(prosody_routes.router)
    api.include_router(voice_profiles.router)
    api.include_router(resynthesis.router)

    @api.get("/", include_in_schema=False, response_model=None)
    def index() -> FileResponse | HTMLResponse:
        built = WEB_DIR / "dist" / "index.html"
        page = built if built.exists() else WEB_DIR / "index.html"
        if page.exists():
            return FileResponse(page)
        return HTMLResponse("<h1>AVATAR</h1><p>API docs: <a href='/docs'>/docs</a></p>")

    sio = create_socket_server(settings)
    return socketio.ASGIApp(sio, other_asgi_app=api, socketio_path="socket.io")



