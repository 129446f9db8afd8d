"""The load: N concurrent sessions over real websockets, under one of two load models.

- **stress** (closed loop): a session sends its next message as soon as the previous turn's
  audio is complete, for a fixed number of turns. A saturation test.
- **conversational pacing**: a session sends its next message only once the reply would have
  been heard, plus a reaction time (see :class:`Pacing`); for a fixed number of turns or for
  a fixed wall-time window.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import socketio

from bench.client import CREATE_CONCURRENCY, BenchClient, Interrupted, TurnResult, unless_stopped
from bench.config import PACED, STRESS
from cli.chat_client import owner_headers


class Session(Protocol):
    """One timed session of the system under test (AVATAR's :class:`BenchClient`, or the peer's)."""

    async def turn(self, text: str, engine_ms: float, timeout_s: float, stop: asyncio.Event) -> TurnResult: ...


class SessionOpener(Protocol):
    """Opens a level's sessions before it starts (not measured) and closes them after it."""

    def open(self, count: int, stop: asyncio.Event) -> AsyncIterator[Sequence[Session]]: ...


# What a session's turn raises when that session cannot go on (the others do).
TURN_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, TimeoutError, socketio.exceptions.SocketIOError)


class AvatarSessions:
    """AVATAR sessions over Socket.IO: one owner for the level, sessions created a few at a
    time (see ``CREATE_CONCURRENCY``), each connected on its own websocket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @asynccontextmanager
    async def open(self, count: int, stop: asyncio.Event) -> AsyncIterator[Sequence[Session]]:
        clients = [BenchClient(self.base_url) for _ in range(count)]
        async with httpx.AsyncClient(timeout=30) as http:
            try:
                http.headers.update(await owner_headers(http, self.base_url))
                gate = asyncio.Semaphore(CREATE_CONCURRENCY)
                await unless_stopped(asyncio.gather(*(c.connect(http, gate) for c in clients)), stop)
                yield clients
            finally:
                await asyncio.gather(*(c.disconnect() for c in clients))


@dataclass(frozen=True)
class Pacing:
    """A real user cannot send the next message until the reply has been heard: after the turn's
    ``turn_audio_complete``, wait until its audio would have finished playing (the sum of its
    ``audio_chunk`` ``duration_ms``, counted from the arrival of the chunk with ``seq`` 0), then
    a reaction time drawn uniformly from ``reaction_min_s`` to ``reaction_max_s``."""

    reaction_min_s: float = 0.5
    reaction_max_s: float = 2.0

    def next_send_at(self, turn: TurnResult, rng: random.Random) -> float:
        """perf_counter at which the session sends its next message."""
        heard = max(turn.complete_at, turn.playback_end)
        return heard + rng.uniform(self.reaction_min_s, self.reaction_max_s)


@dataclass
class LevelResult:
    sessions: int
    turns_per_session: int | None  # a fixed count; None when the level ran for window_s instead
    scenario: str = STRESS
    window_s: float | None = None
    results: list[TurnResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    pauses_s: list[float] = field(default_factory=list)  # paced: turn_audio_complete -> next send
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds each process spent in the level


async def _sleep_until(when: float, stop: asyncio.Event) -> None:
    delay = when - time.perf_counter()
    if delay > 0:
        await unless_stopped(asyncio.sleep(delay), stop)


async def run_level(
    base_url: str, sessions: int, engine_ms: float, timeout_s: float, *,
    turns: int | None = None, window_s: float | None = None, pacing: Pacing | None = None,
    start_spread_s: float = 0.25, stop: asyncio.Event | None = None, label: str = "bench",
    opener: SessionOpener | None = None,
) -> LevelResult:
    """``sessions`` concurrent sessions, their starts spread evenly over ``start_spread_s``.

    Each session sends ``turns`` messages, or keeps sending until ``window_s`` (from the level's
    start) has passed; a turn sent inside the window is measured to its end. Without ``pacing``
    the next message goes as soon as the previous turn's audio is complete (closed loop); with
    it, at :meth:`Pacing.next_send_at`. Returns early, with what it has, once ``stop`` is set.
    ``opener``: the system's sessions (default: AVATAR's at ``base_url``).
    """
    if (turns is None) == (window_s is None):
        raise ValueError("give either turns or window_s")
    stop = stop or asyncio.Event()
    level = LevelResult(sessions=sessions, turns_per_session=turns, window_s=window_s,
                        scenario=PACED if pacing else STRESS)
    opener = opener or AvatarSessions(base_url)
    try:
        async with opener.open(sessions, stop) as clients:
            started = time.perf_counter()
            deadline = None if window_s is None else started + window_s

            def more(sent: int) -> bool:
                if turns is not None:
                    return sent < turns
                assert deadline is not None
                return time.perf_counter() < deadline

            async def session_loop(index: int, client: Session) -> None:
                rng = random.Random(sessions * 1000 + index)  # the same draws on every run
                await _sleep_until(started + start_spread_s * index / sessions, stop)
                sent = 0
                while more(sent):
                    text = f"{label} {sessions}/{index} 第 {sent + 1} 句：今天天氣如何？"
                    try:
                        result = await client.turn(text, engine_ms, timeout_s, stop)
                    except TURN_ERRORS as exc:
                        level.failures.append(str(exc))
                        return  # this session's state is unknown now; the others go on
                    level.results.append(result)
                    sent += 1
                    if pacing is None or not more(sent):
                        continue
                    send_at = pacing.next_send_at(result, rng)
                    if deadline is not None and send_at >= deadline:
                        return  # its next message would come after the window: nothing to wait for
                    level.pauses_s.append(send_at - result.complete_at)
                    await _sleep_until(send_at, stop)

            async def guarded(index: int, client: Session) -> None:
                try:
                    await session_loop(index, client)
                except Interrupted:
                    pass

            await asyncio.gather(*(guarded(i, c) for i, c in enumerate(clients)))
            # a window level lasts at least its window, even when no session had a message left
            level.wall_s = max(time.perf_counter() - started, window_s or 0.0)
    except Interrupted:
        pass
    return level
