"""The Socket.IO server: authenticated per session, one room per session.

Browsers connect with ``auth={"session_id", "token"}`` (both from ``POST /api/v1/sessions``)
and only ever join their own session's room. Events from workers arrive through the
``AsyncRedisManager`` (python-socketio's Redis pub/sub) and are delivered to that room.

Every handler answers (``api/socket_guard.py``): its ack, ``BAD_REQUEST`` for extra
arguments or a reserved event name, ``INTERNAL`` with a trace id when it fails. Each
admitted socket holds its session's admission slot only while this process renews its
heartbeat (:func:`keep_slots`), so a crashed API leaks no slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from api.audio_stream import register_audio_stream
from api.security import verify_session_token
from api.socket_guard import INTERNAL_MESSAGE, LenientJSON, SocketGuard
from api.turn_history import register_resume
from avatar.conversation import ConversationError, parse_uuid
from avatar.db import Session, VoiceProfile
from avatar.domain import ErrorCode, SessionStatus
from avatar.events import (
    SET_TTS_MODE,
    USER_MESSAGE,
    TTSModeChoice,
    UserMessage,
    session_room,
)
from avatar.metrics import SOCKET_CONNECTIONS, SOCKET_ERRORS, TURNS_ACCEPTED
from avatar.services import Services
from avatar.turns import QueueUnavailable, start_turn
from avatar.voice_upload import READY, profile_status
from gpu_scheduler.state import admission_control

log = logging.getLogger(__name__)

Payload = TypeVar("Payload", bound=BaseModel)


def _parse(model: type[Payload], data: Any, event: str, shape: str) -> tuple[Payload | None, str]:
    """A client payload as ``model``, or the BAD_REQUEST message saying what is wrong."""
    if not isinstance(data, dict):
        return None, f"{event} 需要 {shape}（malformed payload）"
    try:
        return model.model_validate(data), ""
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return None, f"{event} 格式錯誤：{detail}"


def _refusal(code: str, message: str, **extra: Any) -> socketio.exceptions.ConnectionRefusedError:
    """The client's ``connect_error`` gets ``{message, data: {code, message, ...}}``."""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message, **extra})


def create_socket_server(services: Services) -> socketio.AsyncServer:
    settings = services.settings
    manager = socketio.AsyncRedisManager(settings.redis_url, channel=settings.socketio_channel)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=settings.resolved_allowed_origins,  # never empty: [] would allow all
        # Large enough that an oversized microphone frame reaches its handler and is refused
        # with FRAME_TOO_LARGE instead of the transport dropping the connection.
        max_http_buffer_size=max(2_000_000, settings.audio_max_message_bytes),
        json=LenientJSON,  # an over-long integer reaches its handler, which answers
        logger=False,
        engineio_logger=False,
    )

    admission = admission_control(services.redis, settings)
    guard = SocketGuard(sio)
    send_error = guard.error
    sockets: dict[str, str] = {}  # this process's admitted sockets: sid -> session id
    heartbeat: list[asyncio.Task[None]] = []  # keep_slots, started with the first socket

    forget_audio_stream = register_audio_stream(sio, services, guard, admission)
    register_resume(guard, services)  # `resume`: the turns that finished while a client was away

    def socket_alive(sid: str) -> bool:
        """Still open? A socket that dropped while its connect handler ran never gets a
        disconnect call, so the heartbeat asks Engine.IO as well."""
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        return eio_sid is not None and eio_sid in sio.eio.sockets and (
            sio.manager.is_connected(sid, "/") or sio.manager.is_pre_connected(sid, "/"))

    async def release(sid: str) -> None:
        if sockets.pop(sid, None) is not None:
            SOCKET_CONNECTIONS.dec()
            await asyncio.to_thread(admission.leave, sid)

    async def keep_slots() -> None:
        """Renew this process's sockets' slots; release those that are gone."""
        while True:
            await sio.sleep(admission.renew_every_s)
            try:
                for sid in [sid for sid in sockets if not socket_alive(sid)]:
                    await release(sid)
                lapsed = await asyncio.to_thread(admission.renew, list(sockets))
                if lapsed:  # this process stalled past their deadline: activity re-admits them
                    log.info("admission heartbeat lapsed for %d socket(s)", len(lapsed))
            except Exception:
                log.exception("could not renew the admission heartbeats")

    @sio.event
    async def connect(sid: str, *args: Any) -> Any:
        if guard.client_sent(sid):  # a client's own "connect" message, not a connection
            return await guard.refuse_reserved(sid, "connect")
        try:
            await open_socket(sid, *args)
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception as exc:
            trace_id = str(uuid.uuid4())
            log.exception("connect failed for %s (trace_id=%s)", sid, trace_id)
            with contextlib.suppress(Exception):  # if Redis is the trouble, the heartbeat lapses it
                await release(sid)
            raise _refusal(ErrorCode.INTERNAL.value, INTERNAL_MESSAGE, trace_id=trace_id) from exc
        return None

    async def open_socket(sid: str, environ: Any = None, auth: Any = None, *_: Any) -> None:
        if not isinstance(auth, dict):
            raise _refusal("UNAUTHORIZED", "缺少 session_id 與 token（auth required）")
        session_id = parse_uuid(auth.get("session_id"))
        token = auth.get("token")
        if session_id is None or not isinstance(token, str) or not verify_session_token(
            settings, str(session_id), token
        ):
            raise _refusal("UNAUTHORIZED", "session_id 或 token 無效（invalid session credentials）")

        def load_status() -> str | None:
            with services.db() as db:
                row = db.get(Session, session_id)
                return None if row is None else row.status

        status = await asyncio.to_thread(load_status)
        if status != SessionStatus.ACTIVE:
            raise _refusal("SESSION_NOT_FOUND", "找不到此對話或已結束（session not found）")
        verdict = await asyncio.to_thread(admission.admit, str(session_id), sid)
        if not verdict.admitted:
            SOCKET_ERRORS.labels(code=ErrorCode.BUSY.value).inc()
            raise _refusal(
                ErrorCode.BUSY.value, verdict.message,
                position=verdict.position, retry_after_s=verdict.retry_after_s,
            )
        sockets[sid] = str(session_id)  # from here on the slot goes with the socket
        SOCKET_CONNECTIONS.inc()
        if not heartbeat:
            heartbeat.append(sio.start_background_task(keep_slots))
        await sio.save_session(sid, {"session_id": str(session_id)})
        await sio.enter_room(sid, session_room(session_id))

    @sio.event
    async def disconnect(sid: str, *args: Any) -> Any:
        if guard.client_sent(sid):  # a client's own "disconnect" message: the socket stays open
            return await guard.refuse_reserved(sid, "disconnect")
        forget_audio_stream(sid)
        try:
            await release(sid)
        except Exception:  # the heartbeat lapses it instead
            log.exception("could not release the admission slot of %s", sid)
        return None

    @guard.on(USER_MESSAGE)
    async def user_message(sid: str, data: Any = None) -> dict[str, Any]:
        received_at = time.time()
        session_id = (await sio.get_session(sid)).get("session_id")
        if isinstance(data, str):  # a bare string is accepted as the text
            data = {"text": data}
        message, problem = _parse(UserMessage, data, USER_MESSAGE, "{text: string}")
        if message is None:
            return await send_error(sid, ErrorCode.BAD_REQUEST, problem)
        if len(message.text) > settings.max_message_chars:
            return await send_error(
                sid, ErrorCode.MESSAGE_TOO_LONG,
                f"訊息過長：{len(message.text)} 字，上限 {settings.max_message_chars} 字（message too long）",
                limit=settings.max_message_chars,
            )

        def admit_and_start() -> tuple[Any, Any]:
            # Activity keeps the slot; a session idle past the timeout must find a free one.
            # Admission and the turn's start share one trip to a thread: each hop off the event
            # loop is a wake-up on the path to first audio.
            verdict = admission.admit(session_id, sid)
            if not verdict.admitted:
                return verdict, None
            path = {"received": received_at, "admitted": time.time()}
            return verdict, start_turn(services, parse_uuid(session_id), message.text, path=path)

        try:
            verdict, accepted = await asyncio.to_thread(admit_and_start)
        except ConversationError as exc:
            return await send_error(sid, ErrorCode(exc.code), exc.message)
        except QueueUnavailable as exc:
            return await send_error(
                sid, ErrorCode.QUEUE_UNAVAILABLE, "任務佇列暫時無法使用，請稍後再試（queue unavailable）",
                turn_id=exc.turn_id,
            )
        if accepted is None:
            return await send_error(
                sid, ErrorCode.BUSY, verdict.message,
                position=verdict.position, retry_after_s=verdict.retry_after_s,
            )
        TURNS_ACCEPTED.inc()
        return {"ok": True, "turn_id": str(accepted.turn_id), "turn_number": accepted.turn_number}

    @guard.on(SET_TTS_MODE)
    async def set_tts_mode(sid: str, data: Any = None) -> dict[str, Any]:
        session_id = (await sio.get_session(sid)).get("session_id")
        choice, problem = _parse(TTSModeChoice, data, SET_TTS_MODE, "{mode, voice_profile_id?, style?}")
        if choice is None:
            return await send_error(sid, ErrorCode.BAD_REQUEST, problem)

        def store() -> tuple[ErrorCode, str] | None:
            with services.db() as db:
                row = db.get(Session, parse_uuid(session_id))
                if row is None:
                    return ErrorCode.BAD_REQUEST, "找不到此對話（session not found）"
                if choice.voice_profile_id:
                    voice = db.get(VoiceProfile, choice.voice_profile_id)
                    # Only the session owner's voices; another owner's is refused as a missing one.
                    if voice is None or voice.owner_id != row.owner_id:
                        return ErrorCode.BAD_REQUEST, f"找不到聲音檔案 {choice.voice_profile_id}（voice profile not found）"
                    status = profile_status(voice.meta)
                    if status != READY:
                        return ErrorCode.VOICE_NOT_READY, (
                            f"此聲音檔尚未可用（{status}），請等分析完成後再選擇（voice profile not ready）")
                meta = dict(row.meta or {})
                meta["tts_mode"] = choice.mode.value
                meta["voice_profile_id"] = str(choice.voice_profile_id) if choice.voice_profile_id else None
                meta["tts_style"] = choice.style
                row.meta = meta
            return None

        refusal = await asyncio.to_thread(store)
        if refusal:
            return await send_error(sid, *refusal)
        ack: dict[str, Any] = {"ok": True, "mode": choice.mode.value,
                               "voice_profile_id": choice.voice_profile_id and str(choice.voice_profile_id)}
        if choice.style:
            ack["style"] = choice.style
        return ack

    @guard.on_any
    async def unknown_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
        return await send_error(sid, ErrorCode.UNKNOWN_EVENT, f"未知的事件：{event!r}（unknown event）", event=event)

    return sio
