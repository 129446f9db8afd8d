"""Response models of the REST API (the seed's section 2.4.1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class SessionCreated(BaseModel):
    session_id: uuid.UUID
    token: str
    socketio_path: str = "/socket.io"
    ws_url: str


class SessionOut(BaseModel):
    session_id: uuid.UUID
    status: str
    start_time: datetime
    end_time: datetime | None
    turn_count: int
    metadata: dict[str, Any]


class AudioOut(BaseModel):
    audio_id: uuid.UUID
    mode: str
    seq: int
    text: str
    engine: str
    duration_sec: float
    synthesis_time_ms: float
    url: str


class TurnOut(BaseModel):
    turn_id: uuid.UUID
    turn_number: int
    user_input: str
    ai_response: str
    status: str
    error_code: str | None
    error_message: str | None
    trace_id: uuid.UUID
    latency: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    audio: list[AudioOut]  # HQ sentences first when the turn has them
    replay_mode: str | None = None  # the tier a replay uses: hq once rendered, else fast
    hq_url: str | None = None  # the whole turn in HQ (mode both), as in hq_audio_ready


class Page(BaseModel):
    total: int
    limit: int
    offset: int
