"""One benchmark session: a websocket client that times every event of its turns."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

# Sessions are created a few at a time: dozens of simultaneous `POST /api/v1/sessions` on SQLite
# stall for the 30 s busy timeout (the write transaction stays open until the request's
# dependency exits, while the response validation waits for a free threadpool worker).
CREATE_CONCURRENCY = 4
CONNECT_ATTEMPTS = 5


class Interrupted(Exception):
    """Ctrl-C/SIGTERM asked the measurement to stop."""


async def unless_stopped(awaitable: Any, stop: asyncio.Event) -> Any:
    """Await ``awaitable`` unless ``stop`` is set first (then raise :class:`Interrupted`).
    Stopping by an event, not by cancelling tasks: nothing in between can swallow it."""
    task = asyncio.ensure_future(awaitable)
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise Interrupted


@dataclass
class TurnTrace:
    """Client-side receive times (perf_counter) of one turn's events."""

    first_token: float | None = None
    first_audio: float | None = None
    audio_complete: float | None = None
    audio_ms: float = 0.0  # sum of the turn's `audio_chunk` `duration_ms`
    server_latency: dict[str, float] = field(default_factory=dict)
    # the workers' own figures: `turn_started.queue_ms`, seq 0's `queue_ms` and `synthesis_ms`
    llm_queue_ms: float | None = None
    speech_queue_ms: float | None = None
    synthesis_ms: float | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class TurnResult:
    ttft_ms: float
    ttfa_ms: float
    total_ms: float
    overhead_ms: float
    server_first_token_ms: float | None
    server_first_audio_ms: float | None
    t0: float = 0.0  # perf_counter just before `user_message` was emitted
    audio_ms: float = 0.0  # how long the reply's audio plays
    turn_id: str = ""
    t0_wall: float = 0.0  # time.time() at t0: the servers' path stamps are unix times
    first_audio_wall: float = 0.0  # time.time() when seq 0 arrived
    llm_queue_ms: float | None = None  # the reply job's wait for an llm worker (turn_started)
    speech_queue_ms: float | None = None  # sentence 0's wait for a tts worker (its audio_chunk)
    synthesis_ms: float | None = None  # sentence 0's synthesis (its audio_chunk)

    @property
    def complete_at(self) -> float:
        """perf_counter when `turn_audio_complete` arrived."""
        return self.t0 + self.total_ms / 1000.0

    @property
    def playback_end(self) -> float:
        """perf_counter when the reply would have finished playing, counted from seq 0's arrival."""
        return self.t0 + (self.ttfa_ms + self.audio_ms) / 1000.0


class BenchClient:
    """One session's websocket; events are filed by ``turn_id`` the moment they arrive, so an
    event that overtakes the ``user_message`` ack is not lost."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # handle_sigint=False: the benchmark handles Ctrl-C itself (see bench.overhead)
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.traces: dict[str, TurnTrace] = {}
        self.sio.on("turn_started", self._on_started)
        self.sio.on("llm_token", self._on_token)
        self.sio.on("audio_chunk", self._on_audio)
        self.sio.on("turn_audio_complete", self._on_complete)
        self.sio.on("error", self._on_error)

    def trace(self, turn_id: str) -> TurnTrace:
        if turn_id not in self.traces:
            self.traces[turn_id] = TurnTrace()
        return self.traces[turn_id]

    def _on_started(self, data: dict[str, Any]) -> None:
        self.trace(data["turn_id"]).llm_queue_ms = data.get("queue_ms")

    def _on_token(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        if trace.first_token is None:
            trace.first_token = now

    def _on_audio(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        if data.get("seq") == 0 and trace.first_audio is None:
            trace.first_audio = now
            trace.speech_queue_ms, trace.synthesis_ms = data.get("queue_ms"), data.get("synthesis_ms")
        trace.audio_ms += float(data.get("duration_ms") or 0.0)

    def _on_complete(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        trace.audio_complete = now
        trace.server_latency = dict(data.get("latency") or {})
        if data.get("failed"):
            trace.error = f"{data['failed']} sentence(s) failed"
        trace.done.set()

    def _on_error(self, data: dict[str, Any]) -> None:
        turn_id = data.get("turn_id") if isinstance(data, dict) else None
        if turn_id:
            trace = self.trace(turn_id)
            trace.error = f"{data.get('code')}: {data.get('message')}"
            trace.done.set()

    async def connect(self, http: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
        async with gate:  # setup, not measured: see CREATE_CONCURRENCY
            response = await http.post(f"{self.base_url}/api/v1/sessions")
        response.raise_for_status()
        session = response.json()
        auth = {"session_id": session["session_id"], "token": session["token"]}
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                await self.sio.connect(self.base_url, auth=auth, transports=["websocket"], wait_timeout=30)
                return
            except socketio.exceptions.ConnectionError:
                # The API may answer `POST /sessions` before its transaction commits, so a
                # websocket that connects at once is (rarely) refused with SESSION_NOT_FOUND.
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def disconnect(self) -> None:
        try:
            await self.sio.disconnect()
        except Exception:  # already gone: nothing to release
            pass

    async def turn(self, text: str, engine_ms: float, timeout_s: float, stop: asyncio.Event) -> TurnResult:
        t0_wall, t0 = time.time(), time.perf_counter()
        ack = await unless_stopped(self.sio.call("user_message", {"text": text}, timeout=timeout_s), stop)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise RuntimeError(f"user_message refused: {ack!r}")
        turn_id = ack["turn_id"]
        trace = self.trace(turn_id)
        try:
            await unless_stopped(asyncio.wait_for(trace.done.wait(), timeout_s), stop)
        except TimeoutError:
            raise RuntimeError(f"turn {turn_id} not complete after {timeout_s}s") from None
        finally:
            self.traces.pop(turn_id, None)
        if trace.error:
            raise RuntimeError(f"turn {turn_id}: {trace.error}")
        if trace.first_token is None or trace.first_audio is None or trace.audio_complete is None:
            raise RuntimeError(f"turn {turn_id}: completed without a token or the first audio chunk")
        ttfa = (trace.first_audio - t0) * 1000.0
        return TurnResult(
            ttft_ms=(trace.first_token - t0) * 1000.0,
            ttfa_ms=ttfa,
            total_ms=(trace.audio_complete - t0) * 1000.0,
            overhead_ms=ttfa - engine_ms,
            server_first_token_ms=trace.server_latency.get("first_token_ms"),
            server_first_audio_ms=trace.server_latency.get("first_audio_ms"),
            t0=t0,
            audio_ms=trace.audio_ms,
            turn_id=turn_id,
            t0_wall=t0_wall,
            first_audio_wall=t0_wall + (trace.first_audio - t0),
            llm_queue_ms=trace.llm_queue_ms, speech_queue_ms=trace.speech_queue_ms,
            synthesis_ms=trace.synthesis_ms,
        )
