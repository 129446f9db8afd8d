"""What every Socket.IO handler shares: one payload per event, the protocol's reserved names
refused, and an answer whatever happens.

python-socketio runs each event's handler in a background task, so an exception there reaches
nobody but the log ("Task exception was never retrieved") while the client waits for an ack
that never comes. A handler registered with :meth:`SocketGuard.on` always answers: its own
ack, ``BAD_REQUEST`` for an event sent with more than one argument, or ``INTERNAL`` with a
trace id that is also in the API's log line about the failure.

The names Socket.IO itself uses (``connect``, ``disconnect``, ...) are not events a client
may send: python-socketio would hand a ``["disconnect"]`` message to the real disconnect
handler while the socket stays open. :meth:`SocketGuard.client_sent` tells such a message
from the real thing, and :meth:`SocketGuard.refuse_reserved` answers it. An event whose
packet python-socketio cannot even decode reaches no handler, so :class:`LenientJSON` keeps
the one such case a well-formed client can send (an over-long integer) decodable.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from avatar.domain import ErrorCode
from avatar.events import ERROR, error_payload
from avatar.metrics import SOCKET_ERRORS

log = logging.getLogger(__name__)

# Socket.IO's own event names (the protocol's and the JavaScript client's): never app events.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
INTERNAL_MESSAGE = "伺服器內部錯誤，請稍後再試；回報問題時請附上 trace_id（internal error）"

Handler = Callable[..., Awaitable[Any]]
SAFE_INT_DIGITS = 100  # Engine.IO's own limit: parsing longer integers costs quadratic time


def _parse_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= SAFE_INT_DIGITS else float(digits)


class LenientJSON:
    """The JSON python-socketio decodes packets with (``AsyncServer(json=...)``). Engine.IO's
    own refuses an integer longer than 100 digits by dropping the whole packet, so its event
    never reaches a handler and gets no answer; here such a number reads as a float (±inf
    when out of range, in linear time), which the handler then refuses like any bad number."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", _parse_int)
        return json.loads(*args, **kwargs)


class SocketGuard:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def error(self, sid: str, code: ErrorCode | str, message: str, **extra: Any) -> dict[str, Any]:
        """Tell ``sid`` (an ``error`` event) and return the same as the handler's ack. The ack
        is returned even when the event cannot be sent (the Redis pub/sub may be down)."""
        SOCKET_ERRORS.labels(code=str(code)).inc()
        payload = error_payload(code, message, **extra)
        try:
            await self.sio.emit(ERROR, payload, to=sid)
        except Exception:
            log.exception("could not send the %s error to %s (trace_id=%s)", code, sid, payload["trace_id"])
        return {"ok": False, "error": payload}

    async def internal(self, sid: str, event: str) -> dict[str, Any]:
        """The answer to a handler that failed: logged with the trace id the client gets."""
        trace_id = str(uuid.uuid4())
        log.exception("Socket.IO handler %r failed for %s (trace_id=%s)", event, sid, trace_id)
        return await self.error(sid, ErrorCode.INTERNAL, INTERNAL_MESSAGE, trace_id=trace_id, event=event)

    def client_sent(self, sid: str) -> bool:
        """Did a client send this reserved-name event as a message? Only a fully connected
        socket can send messages, and python-socketio calls the real ``connect`` handler
        while the socket is still connecting and the real ``disconnect`` while it is
        already disconnecting: in neither case does the manager count it as connected."""
        return bool(self.sio.manager.is_connected(sid, "/"))

    async def refuse_reserved(self, sid: str, event: str) -> dict[str, Any]:
        return await self.error(
            sid, ErrorCode.BAD_REQUEST,
            f"{event!r} 是 Socket.IO 保留的事件名稱，不能當作訊息傳送（reserved event name）", event=event,
        )

    def on(self, event: str) -> Callable[[Handler], Handler]:
        """Register ``handler(sid, data=None)`` for ``event`` so that it always answers."""
        def register(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def answering(sid: str, *args: Any) -> Any:
                if len(args) > 1:
                    return await self.error(
                        sid, ErrorCode.BAD_REQUEST,
                        f"{event} 只接受一個參數，收到 {len(args)} 個（one payload expected）", event=event,
                    )
                try:
                    return await handler(sid, *args)
                except Exception:
                    return await self.internal(sid, event)

            self.sio.on(event, answering)
            return handler

        return register

    def on_any(self, handler: Handler) -> Handler:
        """Register the catch-all ``handler(event, sid, data=None)`` (events without their own
        handler); the reserved names python-socketio sends there are refused first."""
        @functools.wraps(handler)
        async def answering(*args: Any) -> Any:
            # An event literally named "*" is dispatched as handler(sid, *data), without the
            # name: its first argument is then the sender's sid (no client learns another's).
            if args and isinstance(args[0], str) and self.client_sent(args[0]):
                return await self.refuse_reserved(args[0], "*")
            event, sid, *args = args  # type: ignore[assignment]
            if event in RESERVED_EVENTS:
                return await self.refuse_reserved(sid, event)
            try:
                return await handler(event, sid, *args[:1])
            except Exception:
                return await self.internal(sid, event)

        self.sio.on("*", answering)
        return handler
