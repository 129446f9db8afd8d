"""Response models of the REST API (the seed's section 2.4.1), the error body every route
answers with, and the UTC timestamps every model serialises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict


def as_utc(value: datetime) -> datetime:
    """Timestamps are stored in UTC; SQLite hands them back naive, PostgreSQL aware. Either
    way the API answers an RFC 3339 time with its offset (``...+00:00``)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


class ErrorDetail(BaseModel):
    """``detail`` of every 4xx: a stable code and a message that says what to do next
    (some codes add fields, e.g. ``limit``)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str


class ErrorOut(BaseModel):
    detail: ErrorDetail


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationDetail(ErrorDetail):
    errors: list[ValidationProblem] = []  # what did not match the schema, field by field


class ValidationErrorOut(BaseModel):
    """422: a request that does not match the schema (``code`` VALIDATION_ERROR, with
    ``errors``), or content the route refused (its own code, e.g. VOICE_TOO_SHORT)."""

    detail: ValidationDetail


_ERROR_DESCRIPTIONS = {
    400: "Bad request: a body that cannot be parsed, an invalid key",
    401: "Missing or invalid credentials",
    403: "Not allowed (e.g. a missing, bad or expired signature)",
    404: "Not found",
    409: "Conflict with the resource's state (e.g. a voice profile not ready yet)",
    413: "Upload too large",
    422: "The request does not match the schema, or its content was refused",
    503: "A service the request needs is unavailable; retry later",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses it may answer, each with its body."""
    return {
        status: {"model": ValidationErrorOut if status == 422 else ErrorOut,
                 "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


class SessionCreated(BaseModel):
    session_id: uuid.UUID
    token: str
    socketio_path: str = "/socket.io"
    ws_url: str


class SessionOut(BaseModel):
    session_id: uuid.UUID
    status: str
    start_time: UTCDateTime
    end_time: UTCDateTime | None
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
    created_at: UTCDateTime
    completed_at: UTCDateTime | None
    audio: list[AudioOut]  # HQ sentences first when the turn has them
    replay_mode: str | None = None  # the tier a replay uses: hq once rendered, else fast
    hq_url: str | None = None  # the whole turn in HQ (mode both), as in hq_audio_ready


class Page(BaseModel):
    total: int
    limit: int
    offset: int
