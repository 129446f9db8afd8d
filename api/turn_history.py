"""A session's turns as the database has them, for ``GET /api/v1/sessions/{id}/turns`` and
the Socket.IO ``resume`` event.

A turn goes on without its client: when the connection drops (an API restart, a network
blip) the workers still finish the reply, store it and emit events that reach nobody. A
client that connects again sends ``resume {since_turn?}`` and gets in the ack the turns
numbered above ``since_turn`` (all of them by default), each as ``GET /turns`` lists it: the
text, the status, the audio links. The chat page reads the same rows through ``GET /turns``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.schemas import AudioOut, TurnOut
from api.socket_guard import SocketGuard
from avatar.conversation import parse_uuid
from avatar.db import Session
from avatar.domain import ErrorCode
from avatar.services import Services
from avatar.storage import Storage

RESUME = "resume"  # client -> server: {since_turn?}; the ack carries {ok, session_id, turns}


def turns_out(session: Session, storage: Storage, since_turn: int = 0) -> list[TurnOut]:
    turns: list[TurnOut] = []
    for turn in session.turns:
        if turn.turn_number <= since_turn:
            continue
        audio = [
            AudioOut(
                audio_id=a.audio_id, mode=a.mode, seq=a.seq, text=a.text, engine=a.engine,
                duration_sec=a.duration_sec, synthesis_time_ms=a.synthesis_time_ms,
                url=storage.url(a.audio_url),
            )
            for a in turn.audios
        ]
        # Replays prefer the HQ rendering once it exists (mode ``both``, or re-synthesis).
        audio.sort(key=lambda a: (a.mode != "hq", a.seq))
        hq_key = (turn.latency or {}).get("hq_audio_key")
        replay_mode = "hq" if any(a.mode == "hq" for a in audio) else ("fast" if audio else None)
        turns.append(
            TurnOut(
                turn_id=turn.turn_id, turn_number=turn.turn_number, user_input=turn.user_input,
                ai_response=turn.ai_response, status=turn.status, error_code=turn.error_code,
                error_message=turn.error_message, trace_id=turn.trace_id, latency=turn.latency or {},
                created_at=turn.created_at, completed_at=turn.completed_at, audio=audio,
                replay_mode=replay_mode, hq_url=storage.url(hq_key) if hq_key else None,
            )
        )
    return turns


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    since_turn: int = Field(0, ge=0)  # the last turn number the client already has


def register_resume(guard: SocketGuard, services: Services) -> None:
    sio = guard.sio

    @guard.on(RESUME)
    async def resume(sid: str, data: Any = None) -> dict[str, Any]:
        session_id = (await sio.get_session(sid) or {}).get("session_id")
        if data is None:
            data = {}
        try:
            request = ResumeRequest.model_validate(data) if isinstance(data, dict) else None
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return await guard.error(sid, ErrorCode.BAD_REQUEST, f"{RESUME} 格式錯誤：{detail}", event=RESUME)
        if request is None:
            return await guard.error(sid, ErrorCode.BAD_REQUEST, f"{RESUME} 需要 {{since_turn?: int}}（malformed payload）",
                                     event=RESUME)

        def load() -> list[dict[str, Any]] | None:
            with services.db() as db:
                session = db.get(Session, parse_uuid(session_id))
                if session is None:
                    return None
                return [t.model_dump(mode="json") for t in turns_out(session, services.storage, request.since_turn)]

        turns = await asyncio.to_thread(load)
        if turns is None:
            return await guard.error(sid, ErrorCode.SESSION_NOT_FOUND, "找不到此對話（session not found）")
        return {"ok": True, "session_id": session_id, "turns": turns}
